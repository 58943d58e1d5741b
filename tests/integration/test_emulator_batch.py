"""The emulator's batch endpoint (`POST /batch/compute/v1`) with google-api-python-client's own
batch client, and what the endpoint refuses (a batch it cannot read is one 400, nothing runs)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from kubegce.emulator import batch
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with RunningEmulator(0, FaultConfig(), boot_seconds=0.1) as running:
        yield running


def post(emu: RunningEmulator, body: bytes, content_type: str, path: str = batch.PATH) -> tuple[int, str, bytes]:
    url = urlsplit(emu.endpoint)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def part(line: str, body: str = "", cid: str = "a+1") -> str:
    return (f"--B\r\nContent-Type: application/http\r\nContent-ID: <{cid}>\r\n\r\n{line}\r\n"
            f"Content-Type: application/json\r\n\r\n{body}\r\n")  # fmt: skip


def test_google_api_python_client_batch(emu: RunningEmulator) -> None:
    httplib2 = pytest.importorskip("httplib2")
    from googleapiclient.discovery import build_from_document
    from googleapiclient.http import BatchHttpRequest

    from kubegce.emulator import discovery

    doc = dict(discovery.document())
    doc["rootUrl"] = emu.endpoint + "/"
    doc["batchPath"] = batch.PATH.lstrip("/")
    service = build_from_document(doc, http=httplib2.Http())
    results: dict[str, Any] = {}

    def done(request_id: str, response: Any, exception: Exception | None) -> None:
        results[request_id] = exception if exception is not None else response

    network = {"name": "net-a", "autoCreateSubnetworks": False}
    service.networks().insert(project="p", body=network).execute()
    req = BatchHttpRequest(callback=done, batch_uri=f"{emu.endpoint}{batch.PATH}")
    req.add(service.networks().get(project="p", network="net-a"), request_id="got")
    req.add(service.networks().get(project="p", network="missing"), request_id="missing")
    req.add(service.firewalls().list(project="p", maxResults=5), request_id="listed")
    req.add(service.networks().insert(project="p", body={"name": "net-b", "bogus": 1}), request_id="bad")
    req.execute()
    assert results["got"]["name"] == "net-a"
    assert getattr(results["missing"], "status_code", None) == 404
    assert results["listed"]["items"] == []
    assert getattr(results["bad"], "status_code", None) == 400
    calls = json.loads(urlopen_text(emu.endpoint + "/_emulator/calls"))
    assert calls["counts"]["networks.get"] == 2  # each inner call is an ordinary, counted call


def urlopen_text(url: str) -> str:
    from urllib.request import urlopen

    with urlopen(url, timeout=30) as resp:  # noqa: S310 (127.0.0.1 only)
        return str(resp.read().decode())


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (part("GET /compute/v1/projects/p/global/networks HTTP/1.1"), "application/json", "multipart/mixed"),
        ("--B--\r\n", "multipart/mixed; boundary=B", "no parts"),
        (part("GET /storage/v1/b HTTP/1.1") + "--B--\r\n", "multipart/mixed; boundary=B", "request line"),
        (part(f"GET {batch.PATH} HTTP/1.1") + "--B--\r\n", "multipart/mixed; boundary=B", "request line"),
        (part("GET /compute/v1/projects/p/global/networks\nX HTTP/1.1") + "--B--\r\n",
         "multipart/mixed; boundary=B", "request line"),
        (part("POST /compute/v1/projects/p/global/networks HTTP/1.1", "{not json") + "--B--\r\n",
         "multipart/mixed; boundary=B", "not JSON"),
        ("--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n", "multipart/mixed; boundary=B", "application/http"),
        ("".join(part("GET /compute/v1/projects/p/global/networks HTTP/1.1", cid=f"a+{i}") for i in range(1001))
         + "--B--\r\n", "multipart/mixed; boundary=B", "at most 1000"),
        ("".join(f"--B{i}\r\nContent-Type: multipart/mixed; boundary=B{i + 1}\r\n\r\n" for i in range(3000)),
         "multipart/mixed; boundary=B0", "cannot be read"),
    ],
)  # fmt: skip
def test_unreadable_batches_are_refused_whole(emu: RunningEmulator, body: str, content_type: str,
                                              fragment: str) -> None:  # fmt: skip
    before = json.loads(urlopen_text(emu.endpoint + "/_emulator/calls"))["counts"].get("networks.list", 0)
    status, _, data = post(emu, body.encode(), content_type)
    assert status == 400
    assert fragment in json.loads(data)["error"]["message"]
    after = json.loads(urlopen_text(emu.endpoint + "/_emulator/calls"))["counts"].get("networks.list", 0)
    assert after == before  # nothing in a refused batch ran


def test_answers_follow_the_request_order_and_ids(emu: RunningEmulator) -> None:
    body = (part("GET /compute/v1/projects/p/global/networks HTTP/1.1", cid="x+1")
            + part("GET /compute/v1/projects/p/global/networks/nope HTTP/1.1", cid="x+2") + "--B--\r\n")  # fmt: skip
    status, content_type, data = post(emu, body.encode(), "multipart/mixed; boundary=B")
    assert status == 200 and content_type.startswith("multipart/mixed; boundary=batch_")
    text = data.decode()
    assert text.index("<response-x+1>") < text.index("HTTP/1.1 200 OK") < text.index("<response-x+2>")
    assert text.index("<response-x+2>") < text.index("HTTP/1.1 404 Not Found")
