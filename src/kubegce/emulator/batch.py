"""Compute's batch endpoint, `POST /batch/compute/v1`: many calls in one multipart/mixed request.

gcloud sends its reads this way (`instance-groups managed list` fetches zonal and regional groups
and their autoscalers in one batch; apitools, lib/third_party/apitools/base/py/batch.py in
google-cloud-cli 528.0.0), and google-api-python-client's `new_batch_http_request()` does the same.
The format is Google's (cloud.google.com/compute/docs/api/how-tos/batch): each part is
`application/http` with a `Content-ID`, holding one request line (`GET /compute/v1/... HTTP/1.1`),
its headers and an optional JSON body; the answer is multipart/mixed with one `application/http`
part per call, in order, whose `Content-ID` is `response-` + the request's. Each inner call is an
ordinary call of the emulator (counted, checked, throttled). As Google: at most 1000 calls per
batch, only Compute v1 paths, no batch inside a batch; a malformed batch is one 400 for the whole.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from email.message import Message
from email.parser import BytesParser
from typing import Any

MAX_CALLS = 1000  # Google's limit per batch request
PATH = "/batch/compute/v1"
_REQUEST_LINE = re.compile(r"(GET|POST|DELETE|PATCH|PUT) (/compute/v1/[!-~]{1,4000}) HTTP/1\.[01]")
_CONTENT_ID = re.compile(r"<?([ -~]{1,200}?)>?")  # apitools: <id+N>, googleapiclient: <id + N>
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            412: "Precondition Failed", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Service Unavailable"}  # fmt: skip

Call = Callable[[str, str, dict[str, Any] | None], tuple[int, dict[str, Any]]]


class BatchError(Exception):
    """The batch as a whole cannot be read (answered 400)."""


def _parts(content_type: str, raw: bytes) -> list[Message]:
    if not re.fullmatch(r"multipart/mixed;.*boundary=.+", content_type.strip(), re.IGNORECASE | re.DOTALL):
        raise BatchError("a batch request is multipart/mixed with a boundary")
    try:
        message = BytesParser().parsebytes(b"Content-Type: " + content_type.encode("latin-1", "replace")
                                           + b"\r\n\r\n" + raw)  # fmt: skip
    except (RecursionError, ValueError, LookupError):  # parts nested thousands deep, undecodable headers
        raise BatchError("the batch request cannot be read as multipart/mixed") from None
    payload = message.get_payload()
    if not message.is_multipart() or not isinstance(payload, list) or not payload:
        raise BatchError("the batch request holds no parts")
    if len(payload) > MAX_CALLS:
        raise BatchError(f"a batch request holds at most {MAX_CALLS} calls; this one has {len(payload)}")
    return [p for p in payload if isinstance(p, Message)]


def _inner(part: Message) -> tuple[str, str, dict[str, Any] | None]:
    if part.get_content_type() != "application/http":
        raise BatchError("each part of a batch request is application/http")
    text = part.get_payload(decode=True)
    if not isinstance(text, bytes):
        raise BatchError("a part of the batch request is empty")
    head, _, body = text.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = head.decode("latin-1").split("\n")
    m = _REQUEST_LINE.fullmatch(lines[0].strip())
    if m is None:
        raise BatchError("each part starts with a request line: METHOD /compute/v1/... HTTP/1.1")
    parsed: dict[str, Any] | None = None
    if body.strip():
        try:
            data = json.loads(body)
        except ValueError:
            raise BatchError("a part's body is not JSON") from None
        parsed = data if isinstance(data, dict) else None
    return m.group(1), m.group(2), parsed


def handle(content_type: str, raw: bytes, call: Call) -> tuple[str, bytes]:
    """Run every call of the batch through `call(method, path, body)`; the answer's content type and body."""
    requests = []
    for part in _parts(content_type, raw):
        found = _CONTENT_ID.fullmatch(str(part.get("Content-ID", "")).strip())
        requests.append((found.group(1) if found else "", *_inner(part)))
    boundary = "batch_" + secrets.token_hex(12)
    out: list[bytes] = []
    for cid, method, path, body in requests:
        status, payload = call(method, path, body)
        data = json.dumps(payload)
        head = (f"--{boundary}\r\nContent-Type: application/http\r\n"
                + (f"Content-ID: <response-{cid}>\r\n" if cid else "") + "\r\n"
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                f"Content-Type: application/json; charset=UTF-8\r\nContent-Length: {len(data.encode())}\r\n\r\n")  # fmt: skip
        out.append(head.encode() + data.encode() + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", b"".join(out)
