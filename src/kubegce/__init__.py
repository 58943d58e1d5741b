"""kubegce: self-managed Kubernetes on Google Compute Engine, on every GCE image."""

__version__ = "0.1.0"
