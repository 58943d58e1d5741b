"""The support matrix moved to kubegce.boot.matrix (it is the boot channel of each catalog image).

This module only keeps ``kubegce.images.matrix`` importable for kubegce.cli until the CLI imports
the new path; it is the one import that still ties kubegce.images to kubegce.boot
(see tests/unit/test_import_cycles.py). Delete it then.
"""

from __future__ import annotations

from kubegce.boot.matrix import (
    HEADER,
    MATRIX_COLUMNS,
    default_channel,
    matrix_rows,
    profile_dict,
    render,
    yes,
)

__all__ = ["HEADER", "MATRIX_COLUMNS", "default_channel", "matrix_rows", "profile_dict", "render", "yes"]

if __name__ == "__main__":
    from kubegce.images.catalog import Catalog

    print(render(Catalog.load()), end="")
