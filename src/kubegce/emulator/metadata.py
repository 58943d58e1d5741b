"""A GCE metadata server (`computeMetadata/v1`) for one instance, on 127.0.0.1 only.

Serves instance and project values, directory listings, `recursive=true` JSON, `alt=json`, a 301
to the trailing-slash form of directories, guest-attribute PUTs, and service-account token and
identity endpoints with test values. Refuses requests without `Metadata-Flavor: Google` (403) and
logs every request. The boot lab runs the real guest software against it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubegce.defaults import DEFAULT_NODE_MACHINE_TYPE

PREFIX = "/computeMetadata/v1"
TEST_TOKEN = "ya29.kubegce-lab-test-token"  # noqa: S105 - a test value, not a secret


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int
    flavor: bool
    at: float


@dataclass
class InstanceIdentity:
    name: str = "lab-instance"
    instance_id: str = "4567890123456789012"
    zone: str = "us-central1-a"
    project_id: str = ""  # the runner starts a Cloud Logging client for a non-empty project id
    numeric_project_id: str = "123456789012"
    service_account: str = "lab-node@kubegce-lab.iam.gserviceaccount.com"
    ip: str = "10.0.16.2"


@dataclass
class MetadataStore:
    identity: InstanceIdentity
    attributes: dict[str, str] = field(default_factory=dict)
    project_attributes: dict[str, str] = field(default_factory=dict)
    guest_attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    log: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tree(self) -> dict[str, Any]:
        ident = self.identity
        with self.lock:
            guest = {ns: dict(kv) for ns, kv in self.guest_attributes.items()}
        return {
            "instance": {
                "id": ident.instance_id,
                "name": ident.name,
                "hostname": f"{ident.name}.{ident.zone}.c.lab.internal",
                "zone": f"projects/{ident.numeric_project_id}/zones/{ident.zone}",
                "machine-type": f"projects/{ident.numeric_project_id}/machineTypes/{DEFAULT_NODE_MACHINE_TYPE}",
                "network-interfaces": {"0": {"ip": ident.ip, "network": "projects/lab/networks/lab"}},
                "attributes": dict(self.attributes),
                "guest-attributes": guest,
                "service-accounts": {
                    "default": {
                        "email": ident.service_account,
                        "aliases": "default",
                        "scopes": "https://www.googleapis.com/auth/cloud-platform",
                    },
                    ident.service_account: {"email": ident.service_account},
                },
            },
            "project": {
                "project-id": ident.project_id,
                "numeric-project-id": ident.numeric_project_id,
                "attributes": dict(self.project_attributes),
            },
        }


def _camel(key: str) -> str:
    head, *rest = key.split("-")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _to_json(node: Any, *, verbatim: bool) -> Any:
    """recursive=true form: built-in keys camelCase, attribute keys as they are."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            child_verbatim = verbatim or k in ("attributes", "guest-attributes")
            out[k if verbatim else _camel(k)] = _to_json(v, verbatim=child_verbatim)
        return out
    return node


class _Handler(BaseHTTPRequestHandler):
    server: MetadataServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def _reply(
        self, status: int, body: str, content_type: str = "application/text", extra: dict[str, str] | None = None
    ) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", content_type)
        self.send_header("ETag", "kubegce-lab")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _record(self, status: int) -> None:
        store = self.server.store
        with store.lock:
            store.log.append(
                RequestRecord(
                    self.command, self.path, status, self.headers.get("Metadata-Flavor") == "Google", time.time()
                )
            )

    def _handle(self) -> None:
        status = self._serve()
        self._record(status)

    def _serve(self) -> int:
        if self.headers.get("Metadata-Flavor") != "Google":
            self._reply(403, "Missing required header: Metadata-Flavor\n", "text/html")
            return 403
        parts = urlsplit(self.path)
        query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if not path.startswith(PREFIX):
            self._reply(404, "not found\n", "text/html")
            return 404
        rel = path[len(PREFIX) :].strip("/")
        segments = [s for s in rel.split("/") if s]
        store = self.server.store
        if self.command == "PUT":
            if len(segments) == 4 and segments[:2] == ["instance", "guest-attributes"]:
                text = self.headers.get("Content-Length") or "0"
                if not text.isdigit() or int(text) > 64 * 1024:  # a guest attribute value is small
                    self._reply(400, "bad Content-Length\n", "text/html")
                    return 400
                value = self.rfile.read(int(text)).decode(errors="replace")
                with store.lock:
                    store.guest_attributes.setdefault(segments[2], {})[segments[3]] = value
                self._reply(200, "")
                return 200
            self._reply(405, "method not allowed\n", "text/html")
            return 405
        if segments[:4] == ["instance", "service-accounts", "default", "token"] or (
            len(segments) == 4 and segments[:2] == ["instance", "service-accounts"] and segments[3] == "token"
        ):
            body = json.dumps({"access_token": TEST_TOKEN, "expires_in": 3599, "token_type": "Bearer"})
            self._reply(200, body, "application/json")
            return 200
        if len(segments) == 4 and segments[:2] == ["instance", "service-accounts"] and segments[3] == "identity":
            audience = query.get("audience", "")
            if not audience:
                self._reply(400, "non-empty audience parameter required\n", "text/html")
                return 400
            claims = {
                "aud": audience,
                "iss": "https://accounts.google.com",
                "sub": "lab",
                "google": {"compute_engine": {"instance_name": store.identity.name}},
            }
            import base64

            def b64(obj: dict[str, Any]) -> str:
                return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

            self._reply(200, f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.kubegce-lab-unsigned")
            return 200
        node: Any = store.tree()
        for seg in segments:
            if not isinstance(node, dict) or seg not in node:
                self._reply(404, "not found\n", "text/html")
                return 404
            node = node[seg]
        is_dir = isinstance(node, dict)
        if is_dir and not path.endswith("/") and segments:
            location = path + "/" + (f"?{parts.query}" if parts.query else "")
            self._reply(301, "", "text/html", {"Location": location})
            return 301
        recursive = query.get("recursive", "").lower() == "true"
        alt_json = query.get("alt", "") == "json"
        if is_dir and recursive:
            verbatim = bool(segments) and segments[-1] in ("attributes", "guest-attributes")
            self._reply(200, json.dumps(_to_json(node, verbatim=verbatim)), "application/json")
        elif is_dir:
            listing = [f"{k}/" if isinstance(v, dict) else k for k, v in node.items()]
            if alt_json:
                self._reply(200, json.dumps(listing), "application/json")
            else:
                self._reply(200, "".join(f"{e}\n" for e in listing))
        else:
            self._reply(
                200, json.dumps(node) if alt_json else str(node), "application/json" if alt_json else "application/text"
            )
        return 200

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()


class MetadataServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: MetadataStore, port: int = 0, host: str = "127.0.0.1") -> None:
        # 169.254.169.254 (GCE's own address) only inside a boot-lab network namespace, whose
        # only interface is lo: Ignition's GCP provider has that address compiled in.
        if host not in ("127.0.0.1", "169.254.169.254"):
            raise ValueError(
                f"the metadata server listens on 127.0.0.1 (or 169.254.169.254 in a lab namespace), not {host}"
            )
        super().__init__((host, port), _Handler)
        self.store = store
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def start(self) -> MetadataServer:
        self.thread = threading.Thread(target=self.serve_forever, name="kubegce-metadata", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def free_five_digit_port() -> int:
    """A free port with five digits, so a byte patch of the runner's URL keeps its length."""
    import socket

    for port in range(10000 + (int(time.time() * 1000) % 40000), 65535):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free five-digit port on 127.0.0.1")
