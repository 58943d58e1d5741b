"""Talking to a cluster's Kubernetes API: a lazily imported client (`client`), cordon/drain and node
readiness (`drain`), label selectors (`selectors`)."""
