"""What every state store shares: the interface, a versioned object, the key rule, conflict errors.

Kept apart from :mod:`kubegce.state.store` (which opens a store by URL) so that a store
implementation (file://, gs://) depends on this module only, never on the module that picks it.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from typing import Protocol

from kubegce.errors import ConflictError, UserError


@dataclass(frozen=True)
class Versioned:
    data: bytes
    generation: int
    updated_by: str
    updated_at: str


class NodeUrls(Protocol):
    """Where nodes reach a store's objects: what the boot renderer needs of a store."""

    nodes_can_read: bool

    def object_url(self, key: str) -> str:
        """Where a node downloads this object (only stores nodes can read)."""
        ...

    def upload_url(self, key: str) -> str:
        """Where a node uploads this object (only stores nodes can read)."""
        ...

    def create_url(self, key: str) -> str:
        """Where a node creates this object only if it does not exist yet (only stores nodes can read)."""
        ...

    def dir_urls(self, directory: str) -> DirUrls:
        """Where a node lists, reads, writes and deletes objects under ``directory`` (only stores
        nodes can read)."""
        ...


@dataclass(frozen=True)
class DirUrls:
    """A node's URLs for the objects under one directory of a store (names appended URL-quoted,
    ``/`` as %2F): ``list`` lists them (JSON with each ``name``), ``object + NAME`` reads (with
    ``?alt=media``) and deletes one, ``upload + NAME`` writes one."""

    list: str
    object: str
    upload: str


class StateStore(NodeUrls, Protocol):
    """A state store: conditional writes on a generation number (see docs/state-store.md)."""

    url: str

    def read(self, key: str) -> Versioned | None: ...

    def write(self, key: str, data: bytes, *, if_generation: int, secret: bool = False) -> int:
        """Write when the current generation equals ``if_generation`` (0: must not exist)."""
        ...

    def delete(self, key: str, *, if_generation: int | None = None) -> None: ...

    def list(self, prefix: str) -> list[str]: ...


def whoami() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def checked_key(key: str) -> str:
    """A key every store accepts: relative, and never climbing out of the store's prefix."""
    if key.startswith("/") or ".." in key.split("/"):
        raise UserError(f"invalid state key {_cut(key)!r}")
    sizes = [len(part.encode("utf-8", "surrogatepass")) for part in key.split("/")]
    if max(sizes) > MAX_KEY_PART_BYTES or sizes[-1] > MAX_KEY_PART_BYTES - 4:  # the last part gets ".obj"
        # a name no create accepts (cluster names are at most 253); a file system refuses it (ENAMETOOLONG)
        raise UserError(f"invalid state key {_cut(key)!r}: a name is at most {MAX_KEY_PART_BYTES - 4} bytes")
    return key


MAX_KEY_PART_BYTES = 255  # NAME_MAX of common file systems


def _cut(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def conflict_error(key: str, current: Versioned | None) -> ConflictError:
    if current is None:
        return ConflictError(f"{key} was deleted since you read it; re-run the command")
    return ConflictError(
        f"{key} changed since you read it (by {current.updated_by} at {current.updated_at}); re-run the command"
    )
