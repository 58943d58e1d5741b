"""google-cloud-compute, loaded by the piece.

``google.cloud.compute_v1``'s package ``__init__`` imports every one of its ~100 service clients
(about 2 s on a quiet 2-core machine); kubegce uses about 20. :func:`load_compute` puts in its place
a module that serves the same public names on first use: a message or enum type from
``types.compute``, a ``XxxClient`` from ``services.xxx``. The classes are the library's own, so
nothing else changes. If the real package is already imported, it is used as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from typing import Any

PACKAGE = "google.cloud.compute_v1"


class LazyCompute(types.ModuleType):
    """``google.cloud.compute_v1`` without its package ``__init__``: names resolve on first use."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name.endswith("Client") and name != "Client":
            service = re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Client")).lower()
            try:
                module = importlib.import_module(f"{PACKAGE}.services.{service}")
            except ModuleNotFoundError:
                raise AttributeError(f"{PACKAGE} has no client {name}") from None
        else:
            module = importlib.import_module(f"{PACKAGE}.types.compute")
        try:
            value = getattr(module, name)
        except AttributeError:
            raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}") from None
        setattr(self, name, value)
        return value


def load_compute() -> Any:
    """The ``google.cloud.compute_v1`` module: the real one if imported, else a :class:`LazyCompute`."""
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec(PACKAGE)  # imports google.cloud, not compute_v1 itself
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{PACKAGE} is not installed")
    module = LazyCompute(PACKAGE)
    module.__path__ = list(spec.submodule_search_locations)
    module.__spec__ = spec
    module.__file__ = spec.origin
    module.__package__ = PACKAGE
    sys.modules[PACKAGE] = module
    return module
