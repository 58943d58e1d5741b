"""The image probe moved to kubegce.diagnose.probe (it boots an image on GCE and reads what ran).

This module only keeps ``kubegce.images.probe`` importable for kubegce.cli until the CLI imports
the new path; it is the one import that still ties kubegce.images to kubegce.cloud and kubegce.boot
(see tests/unit/test_import_cycles.py). Delete it then.
"""

from __future__ import annotations

from kubegce.diagnose.probe import (
    NAMESPACE,
    ProbeResult,
    probe_image,
    probe_metadata,
    probe_script,
    record,
)

__all__ = ["NAMESPACE", "ProbeResult", "probe_image", "probe_metadata", "probe_script", "record"]
