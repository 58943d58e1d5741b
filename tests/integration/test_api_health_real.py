"""Issue 25 item 8, for real: the control plane's health responder (lib/health.sh) as GCE's legacy
HTTP health check reaches it.

What runs is real: the script the bootstrap writes (`api_health_script`, from the rendered
bootstrap's own functions), activated per connection by systemd's own socket activation
(``systemd-socket-activate --inetd -a``, Debian's systemd 252: what `Accept=yes` does on a node),
real curl asking a real HTTPS server for ``/readyz`` (a self-signed certificate, as kube-apiserver's
names do not include 127.0.0.1), and a real HTTP client as the prober. Only kube-apiserver is stood
in by the HTTPS server, answering /readyz the way it does ("ok" with 200; a failed check with 500).
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kubegce.boot import protocol
from kubegce.boot.render import template

pytestmark = pytest.mark.integration


class FakeApiServer:
    """kube-apiserver's /readyz over HTTPS on 127.0.0.1: ready, failing, or not listening."""

    def __init__(self, tmp: Path) -> None:
        key, cert = tmp / "apiserver.key", tmp / "apiserver.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "1", "-subj", "/CN=kube-apiserver"], check=True, capture_output=True)  # fmt: skip
        self.ready = True
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/readyz":
                    self.send_error(404)
                    return
                body, code = (
                    (b"ok", 200) if owner.ready else (b"[-]etcd failed: reason withheld\nreadyz check failed", 500)
                )
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def responder(tmp_path: Path) -> Iterator[tuple[FakeApiServer, int]]:
    activate = shutil.which("systemd-socket-activate")
    if activate is None or shutil.which("curl") is None or shutil.which("openssl") is None:
        if os.environ.get("KUBEGCE_REQUIRE_TOOLS") == "1":
            pytest.fail("systemd-socket-activate (systemd), curl or openssl is missing")
        pytest.skip("needs systemd-socket-activate, curl and openssl")
    api = FakeApiServer(tmp_path)
    script = tmp_path / "api-health.sh"
    source = "\n".join([protocol.shell_constants(), template("lib/health.sh"), f"KUBEGCE_API_PORT={api.port}",
                        "api_health_script"])  # fmt: skip
    env = {"PATH": os.environ["PATH"], "KUBEGCE_CONFIG_SHA256": "x", "KUBEGCE_CONFIG_SOURCE": "x"}
    # bytes, not text: the script holds literal carriage returns (declare -f prints $'\r' so), which
    # text mode would turn into newlines (and every probe would then wait out its 5 s read timeout)
    res = subprocess.run(["bash", "-c", source], capture_output=True, env=env, timeout=30)
    assert res.returncode == 0, res.stderr
    script.write_bytes(res.stdout)
    script.chmod(0o755)
    port = free_port()
    proc = subprocess.Popen([activate, "--inetd", "-a", "-l", f"127.0.0.1:{port}", str(script)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "the socket never listened"
            time.sleep(0.05)
    try:
        yield api, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        api.stop()


def probe(port: int, method: str = "GET", path: str = "/readyz") -> tuple[int, bytes]:
    """What GCE's prober does: a plain HTTP request with a Host header, the connection closed after."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers={"Host": "35.191.0.1", "User-Agent": "GoogleHC/1.0"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_ready_api_server_is_healthy_and_a_failing_or_absent_one_is_not(
    responder: tuple[FakeApiServer, int],
) -> None:
    api, port = responder
    assert probe(port) == (200, b"ok\n")
    assert probe(port, path="/") == (200, b"ok\n")
    assert probe(port, "HEAD") == (200, b"")
    api.ready = False  # /readyz 500 (etcd unreachable, shutting down)
    status, body = probe(port)
    assert status == 503 and b"etcd" not in body  # the API server's check details are not passed on
    api.ready = True
    assert probe(port)[0] == 200
    api.stop()  # the control plane is being recreated: nothing listens on the API port
    assert probe(port)[0] == 503


def test_other_requests_are_refused_and_hostile_ones_do_not_hang_it(responder: tuple[FakeApiServer, int]) -> None:
    _, port = responder
    assert probe(port, "POST")[0] == 405
    assert probe(port, path="/readyz/../etc/passwd")[0] == 404
    assert probe(port, path="/$(touch%20/tmp/x)")[0] == 404
    # many headers, then a request line with shell in it: answered, nothing evaluated
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /readyz HTTP/1.1\r\n" + b"".join(b"X-%d: ${x}$(id)\r\n" % i for i in range(300)) + b"\r\n")
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"`reboot` $(id) ;\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 405")
    # a client that sends nothing is dropped after the script's 5 s read timeout
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        assert s.recv(4096) == b""
    assert time.monotonic() - started < 8
