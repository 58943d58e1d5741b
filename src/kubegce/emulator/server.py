"""HTTP front of the Compute emulator, on 127.0.0.1 only, with a small admin API for tests:

GET  /_emulator/calls          call counts (reads, mutations, per method)
POST /_emulator/calls/reset    zero the counts
GET  /_emulator/quota          per-window counts of --write-quota / --read-quota
POST /_emulator/faults         {"latencyMs", "failRate", "failCalls": [["method", N, code]], "operationMs"}
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubegce.emulator.cluster import SimulatedCluster
from kubegce.emulator.compute import ComputeApi, ComputeState, FaultConfig


def parse_fail_call(text: str) -> tuple[str, int, int]:
    """`instanceTemplates.insert:3[:503]` -> ("instanceTemplates.insert", 3, 503)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[1].isdigit():
        raise ValueError(f"--fail-call {text!r}: write METHOD:N[:CODE], e.g. instanceTemplates.insert:3:503")
    return parts[0], int(parts[1]), int(parts[2]) if len(parts) == 3 else 503


class BadRequest(Exception):
    """A request the server cannot read (answered 400)."""


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorHTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes: avoid 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            super().log_message(format, *args)

    def _body(self) -> dict[str, Any] | None:
        text = self.headers.get("Content-Length") or "0"
        if not text.isdigit() or len(text) > 9:
            raise BadRequest(f"Content-Length {text[:40]!r} is not a byte count")
        length = int(text)
        if not length:
            return None
        raw = self.rfile.read(length)
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
        try:
            body = self._body()
        except BadRequest as exc:
            self.close_connection = True  # the body's length is unknown: the stream cannot be reused
            self._send(400, {"error": {"code": 400, "message": str(exc),
                                       "errors": [{"reason": "badRequest", "message": str(exc)}]}})  # fmt: skip
            return
        if self.path.startswith("/_emulator/"):
            self._send(*self._admin(method, body or {}))
            return
        try:
            status, payload = self.server.api.handle(method, self.path, body)
        except Exception as exc:  # a bug in the emulator: answer like GCE's backendError, keep serving
            status, payload = 500, {"error": {"code": 500, "message": f"emulator error: {exc!r}",
                                              "errors": [{"reason": "backendError", "message": str(exc)}]}}  # fmt: skip
        self._send(status, payload)
        if method != "GET" and self.server.state_file is not None:
            self.server.state.save(self.server.state_file)

    def _admin(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        st = self.server.state
        if self.path == "/_emulator/calls" and method == "GET":
            with st.lock:
                return 200, st.calls.as_dict()
        if self.path == "/_emulator/quota" and method == "GET":
            return 200, st.quota_report()
        if self.path == "/_emulator/metadata-servers" and method == "GET":
            with st.lock:
                return 200, {link.rsplit("/", 1)[-1]: srv.url for link, srv in st.metadata_servers.items()}
        if self.path == "/_emulator/calls/reset" and method == "POST":
            with st.lock:
                st.calls.reset()
            return 200, {}
        if self.path == "/_emulator/faults" and method == "POST":
            with st.lock:
                f = st.faults
                f.latency_ms = float(body.get("latencyMs", f.latency_ms))
                f.fail_rate = float(body.get("failRate", f.fail_rate))
                f.operation_ms = float(body.get("operationMs", f.operation_ms))
                if "failCalls" in body:
                    f.fail_calls = [(str(m), int(n), int(c)) for m, n, c in body["failCalls"]]
                    st.calls.counts.clear()  # a failCall's Nth counts from here
            return 200, {}
        return 404, {"error": {"code": 404, "message": f"unknown admin path {self.path}"}}

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
                 serve_metadata: bool = False, kube: bool = False) -> None:  # fmt: skip
        """`faults` holds the pace model too: FaultConfig(latency_ms=50, operation_ms=1000,
        write_quota=parse_quota("150/5s")) is `kubegce emulator --latency 50 --op-ms 1000 --write-quota 150/5s`.
        With ``kube``, the simulated cluster's Kubernetes API runs too (``cluster.url``,
        ``cluster.write_kubeconfig(path)``)."""
        self.state = ComputeState(faults, boot_seconds=boot_seconds, boot_outcome=boot_outcome,
                                  serve_metadata=serve_metadata)  # fmt: skip
        if state_file is not None and state_file.exists():
            self.state.load(state_file)
        self.server = EmulatorHTTPServer(port, self.state, state_file=state_file)
        self.thread = threading.Thread(target=self.server.serve_forever, name="kubegce-emulator", daemon=True)
        self.thread.start()
        self.cluster: SimulatedCluster | None = SimulatedCluster(self.state).start() if kube else None

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
