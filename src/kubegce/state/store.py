"""State stores: one interface, conditional writes on a generation number.

``file://`` keeps each object as a JSON envelope written by atomic rename under a lock, so a
reader always sees a whole version and two writers cannot both win.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kubegce.errors import UserError
from kubegce.state.base import DirUrls, StateStore, Versioned, checked_key, conflict_error, whoami

__all__ = [
    "DEFAULT_STATE",
    "FileStateStore",
    "StateStore",
    "Versioned",
    "checked_key",
    "conflict_error",
    "open_store",
    "whoami",
]

DEFAULT_STATE = "file://" + str(Path.home() / ".kubegce" / "state")


class DamagedObject(UserError):
    """A file in a file:// store that is not a state object kubegce wrote."""


class FileStateStore:
    nodes_can_read = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"file://{root}"

    def object_url(self, key: str) -> str:
        return f"file://{self._path(key)}"

    def upload_url(self, key: str) -> str:
        return f"file://{self._path(key)}"

    def create_url(self, key: str) -> str:
        return f"file://{self._path(key)}"

    def dir_urls(self, directory: str) -> DirUrls:
        return DirUrls(list="", object="", upload="")  # nodes cannot reach a file:// store

    def _path(self, key: str) -> Path:
        return self.root / (checked_key(key) + ".obj")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def read(self, key: str) -> Versioned | None:
        path = self._path(key)
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            env = json.loads(text)
            if not isinstance(env, dict):
                raise ValueError("not a JSON object")
            data = base64.b64decode(env["base64"], validate=True) if "base64" in env else env["text"].encode()
            return Versioned(data, int(env["generation"]), str(env["updated_by"]), str(env["updated_at"]))
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            RecursionError,
        ) as exc:  # binascii.Error is a ValueError
            raise DamagedObject(
                f"state object {key} ({path}) is damaged: not a kubegce state file ({type(exc).__name__}); "
                "restore it from a backup, or remove the file"
            ) from None

    def write(self, key: str, data: bytes, *, if_generation: int, secret: bool = False) -> int:
        path = self._path(key)
        with self._locked():
            current = self.read(key)
            have = current.generation if current else 0
            if have != if_generation:
                raise conflict_error(key, current)
            env: dict[str, object] = {
                "generation": have + 1,
                "updated_by": whoami(),
                "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            try:
                env["text"] = data.decode()
            except UnicodeDecodeError:
                env["base64"] = base64.b64encode(data).decode()
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                os.fchmod(fd, 0o600 if secret else 0o644)
                with os.fdopen(fd, "w") as fh:
                    json.dump(env, fh, indent=1)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            return have + 1

    def delete(self, key: str, *, if_generation: int | None = None) -> None:
        with self._locked():
            try:
                current = self.read(key)
            except DamagedObject:
                if if_generation is not None:
                    raise
                self._path(key).unlink()  # an unconditional delete removes a damaged object too
                return
            if current is None:
                return
            if if_generation is not None and current.generation != if_generation:
                raise conflict_error(key, current)
            self._path(key).unlink()

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root))[: -len(".obj")] for p in base.rglob("*.obj") if p.is_file())


def _file_path(url: str) -> str:
    """The path of a file:// URL: absolute (file:///path) or in the home folder (file://~/path).
    ``file://tmp/x`` names the host ``tmp``, not the folder /tmp/x: refused with the fix."""
    path = url[len("file://") :]
    if path.startswith("/") or path == "~" or path.startswith("~/"):
        return path
    host = path.partition("/")[0]
    shown = repr(url[:80]) + ("..." if len(url) > 80 else "")
    if not path:
        raise UserError(f"state store {shown}: no path; write file:///path (three slashes: file:// and /path)")
    fix = f"file:///{path}"
    raise UserError(
        f"state store {shown}: {host[:40]!r} is read as a host name, and a file:// store has none; "
        f"write {fix[:90]!r} (three slashes: file:// and /path) for the folder /{path[:80]}"
    )


def open_store(url: str | None) -> StateStore:
    url = url or os.environ.get("KUBEGCE_STATE") or DEFAULT_STATE
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        shown = repr(url[:60]) + ("..." if len(url) > 60 else "")
        raise UserError(f"state store {shown}: a control character (a newline?) in the URL; write it on one line")
    if url.startswith("file://"):
        return FileStateStore(Path(_file_path(url)).expanduser())
    if url.startswith("gs://"):
        from kubegce.state.gcs import GcsStateStore

        bucket, _, prefix = url[len("gs://") :].partition("/")
        if not bucket:
            raise UserError(f"state store {url!r}: write gs://bucket[/prefix]")
        return GcsStateStore(bucket, prefix)
    raise UserError(f"state store {url!r}: use file:///path or gs://bucket/prefix (--state or KUBEGCE_STATE)")
