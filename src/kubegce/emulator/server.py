"""HTTP front of the Compute emulator, on 127.0.0.1 only, with a small admin API for tests
(``/_emulator/...``, checked like the public API: :mod:`kubegce.emulator.admin` lists it)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubegce.emulator import admin, batch
from kubegce.emulator.cluster import SimulatedCluster
from kubegce.emulator.compute import ComputeApi, ComputeState, FaultConfig


def parse_fail_call(text: str) -> tuple[str, int, int]:
    """`instanceTemplates.insert:3[:503]` -> ("instanceTemplates.insert", 3, 503)."""
    parts = text.split(":")
    usage = f"--fail-call {text[:80]!r}: write METHOD:N[:CODE], e.g. instanceTemplates.insert:3:503"
    if len(parts) not in (2, 3) or not all(p.isdigit() and len(p) < 10 for p in parts[1:]):
        raise ValueError(usage)
    try:
        ((method, nth, code),) = admin.fail_calls(
            "--fail-call", [[parts[0], int(parts[1]), int(parts[2]) if len(parts) == 3 else 503]]
        )
    except admin.AdminError as exc:
        raise ValueError(f"{usage} ({exc.message.split('. ', 1)[-1]})") from None
    return method, nth, code


BATCH_MAX_BYTES = 16 * 1024 * 1024  # a batch of 1000 calls with bodies fits


class BadRequest(Exception):
    """A request the server cannot read (answered 400)."""


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorHTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes: avoid 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            super().log_message(format, *args)

    def _raw_body(self, limit: int | None) -> bytes:
        text = self.headers.get("Content-Length") or "0"
        if not text.isdigit() or len(text) > 9:
            raise BadRequest(f"Content-Length {text[:40]!r} is not a byte count")
        length = int(text)
        if limit is not None and length > limit:
            raise BadRequest(f"the body is {length} bytes; at most {limit} here")
        return self.rfile.read(length) if length else b""

    @staticmethod
    def _json_object(raw: bytes) -> dict[str, Any] | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        is_admin = self.path.startswith("/_emulator/")
        is_batch = self.path.split("?", 1)[0] == batch.PATH
        try:
            raw = self._raw_body(admin.MAX_BODY_BYTES if is_admin else BATCH_MAX_BYTES if is_batch else None)
        except BadRequest as exc:
            self.close_connection = True  # the body is left unread: the stream cannot be reused
            self._send(400, {"error": {"code": 400, "message": str(exc),
                                       "errors": [{"reason": "badRequest", "message": str(exc)}]}})  # fmt: skip
            return
        if is_admin:
            self._send(*admin.handle(self.server.state, method, self.path, raw))
            return
        if is_batch:
            self._batch(method, raw)
            return
        status, payload = self._call(method, self.path, self._json_object(raw))
        self._send(status, payload)
        if method != "GET" and self.server.state_file is not None:
            self.server.state.save(self.server.state_file)

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        try:
            return self.server.api.handle(method, path, body)
        except Exception as exc:  # a bug in the emulator: answer like GCE's backendError, keep serving
            return 500, {"error": {"code": 500, "message": f"emulator error: {exc!r}",
                                   "errors": [{"reason": "backendError", "message": str(exc)}]}}  # fmt: skip

    def _batch(self, method: str, raw: bytes) -> None:
        """POST /batch/compute/v1 (emulator/batch.py): every part is an ordinary call."""
        if method != "POST":
            self._send(405, {"error": {"code": 405, "message": "the batch endpoint takes POST",
                                       "errors": [{"reason": "methodNotAllowed", "message": "POST"}]}})  # fmt: skip
            return
        try:
            content_type, data = batch.handle(self.headers.get("Content-Type", ""), raw, self._call)
        except batch.BatchError as exc:
            self._send(400, {"error": {"code": 400, "message": str(exc),
                                       "errors": [{"reason": "badRequest", "message": str(exc)}]}})  # fmt: skip
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if self.server.state_file is not None:
            self.server.state.save(self.server.state_file)

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a parallel apply opening a hundred connections
    # at once would see SYNs dropped and retransmitted a second later.
    request_queue_size = 1024

    def __init__(
        self, port: int, state: ComputeState, *, state_file: Path | None = None, verbose: bool = False
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state
        self.api = ComputeApi(state)
        self.state_file = state_file
        self.verbose = verbose

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (killed apply, closed pool) is not an emulator error."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class RunningEmulator:
    """Start the emulator in a background thread (tests, the demo); stop with close()."""

    def __init__(self, port: int = 0, faults: FaultConfig | None = None, *, boot_seconds: float = 4.0,
                 boot_outcome: str = "joined", state_file: Path | None = None,
                 serve_metadata: bool = False, kube: bool = False,
                 backup_interval_s: float | None = None) -> None:  # fmt: skip
        """`faults` holds the pace model too: FaultConfig(latency_ms=50, operation_ms=1000,
        write_quota=parse_quota("150/5s")) is `kubegce emulator --latency 50 --op-ms 1000 --write-quota 150/5s`.
        With ``kube``, the simulated cluster's Kubernetes API runs too (``cluster.url``,
        ``cluster.write_kubeconfig(path)``); ``backup_interval_s`` shortens its control planes' backup
        interval (emulator/backups.py)."""
        self.state = ComputeState(faults, boot_seconds=boot_seconds, boot_outcome=boot_outcome,
                                  serve_metadata=serve_metadata)  # fmt: skip
        if state_file is not None and state_file.exists():
            self.state.load(state_file)
        self.server = EmulatorHTTPServer(port, self.state, state_file=state_file)
        self.thread = threading.Thread(target=self.server.serve_forever, name="kubegce-emulator", daemon=True)
        self.thread.start()
        self.cluster: SimulatedCluster | None = (
            SimulatedCluster(self.state, backup_interval_s=backup_interval_s).start() if kube else None
        )

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def quota_windows(self, which: str = "write") -> list[dict[str, int]]:
        """Per-window counts of a rate quota (as GET /_emulator/quota reports them)."""
        quota = self.state.write_quota if which == "write" else self.state.read_quota
        return quota.report() if quota is not None else []

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
        self.server.shutdown()
        self.server.server_close()
        for server in list(self.state.metadata_servers.values()):
            server.stop()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
