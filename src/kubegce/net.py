"""Endpoints the tool talks to (the Compute API, Cloud Storage): checked before use, and reached
with short timeouts, so a wrong or dead endpoint fails in seconds with one message, not after
minutes of retries with a traceback.

- ``check_endpoint`` validates a URL (scheme http/https, host, optional port and path), whole string.
- ``guard_session`` wraps a ``requests`` session: every call gets a connect and read timeout; a
  refused connection or a failed DNS lookup is tried a few times quickly (about two seconds in all),
  then raises :class:`EndpointUnreachable` naming the endpoint and what to check; a read timeout
  raises :class:`EndpointSilent`. Both are :class:`UserError` (exit 1), which no retry loop retries.

Timeouts come from the environment so tests can make them short:
``KUBEGCE_CONNECT_TIMEOUT`` (seconds, default 5) and ``KUBEGCE_READ_TIMEOUT`` (default 60).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from typing import Any

from kubegce.errors import UserError

_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])"
_ENDPOINT = re.compile(rf"(?P<scheme>https?)://(?P<host>{_HOST})(?::(?P<port>\d{{1,5}}))?(?P<path>/[A-Za-z0-9._~/-]*)?")

_USERINFO = re.compile(r"\A(\s*(?:[A-Za-z][A-Za-z0-9+.-]*://)?)[^/?#@\s]*@")  # user:password@
QUICK_ATTEMPTS = 3  # connection refused / DNS failure: tries before giving up
QUICK_PAUSE_S = 0.5
LONG_POLL_S = 150.0  # read timeout for operations.wait (GCE returns within about 2 minutes)


class EndpointUnreachable(UserError):
    exit_code = 1


class EndpointSilent(UserError):
    exit_code = 1


def _cut(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def check_endpoint(url: str, what: str) -> str:
    """The endpoint URL, without a trailing slash, or a UserError naming ``what`` and the fix."""
    text = url.strip()
    m = _ENDPOINT.fullmatch(text)
    safe = _USERINFO.sub(r"\1***@", url)  # never echo a password given in the URL
    shown = _cut(safe)
    if m is None:
        hint = ""
        if _USERINFO.search(text):
            hint = " (no user:password@: the emulator needs none, the real API uses your Google credentials)"
        elif "://" not in text:
            hint = f" (no scheme: write http://{_cut(text)} for the emulator, https:// for a real API)"
        raise UserError(f"{what} {shown!r} is not an endpoint URL: write http(s)://HOST[:PORT]{hint}")
    if m.group("port") is not None and not 0 < int(m.group("port")) < 65536:
        raise UserError(f"{what} {shown!r}: port {m.group('port')} is not between 1 and 65535")
    return text.rstrip("/")


def timeouts() -> tuple[float, float]:
    """(connect, read) timeouts in seconds from the environment."""
    return _seconds("KUBEGCE_CONNECT_TIMEOUT", 5.0), _seconds("KUBEGCE_READ_TIMEOUT", 60.0)


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"{name}={_cut(raw)!r}: write a number of seconds, e.g. 10") from None
    if not math.isfinite(value) or value <= 0:  # nan or inf: no timeout at all, the hang this is here to end
        raise UserError(f"{name}={_cut(raw)!r}: write a positive number of seconds")
    return value


def unreachable_hint(endpoint: str | None, what: str) -> str:
    """What to check when ``endpoint`` cannot be reached."""
    if endpoint and re.match(r"https?://(127\.|localhost|\[::1\])", endpoint):
        port = re.search(r":(\d+)(?:/|$)", endpoint.split("://", 1)[1])
        if what == "Compute API":
            cmd = f"kubegce emulator --port {port.group(1)}" if port else "kubegce emulator"
            return f"is the emulator running? start it with `{cmd}`, or fix --endpoint / KUBEGCE_COMPUTE_ENDPOINT"
        return "is the storage emulator (fake-gcs-server) running on that port? or fix STORAGE_EMULATOR_HOST"
    if what == "Compute API":
        return "check the host name, your network and proxy settings, or --endpoint / KUBEGCE_COMPUTE_ENDPOINT"
    return "check the host name, your network and proxy settings, or STORAGE_EMULATOR_HOST"


def guard_session(session: Any, endpoint: str | None, what: str, *,
                  sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
    """Give ``session.request`` timeouts and fail-fast connection errors (idempotent)."""
    if getattr(session, "_kubegce_guarded", False):
        return
    import requests

    original = session.request
    connect_s, read_s = timeouts()

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        # operations.wait is a long poll that GCE answers after up to ~2 minutes: never cut it short
        limit = max(read_s, LONG_POLL_S) if url.split("?", 1)[0].endswith("/wait") else read_s
        given = kwargs.get("timeout")
        if given is None or isinstance(given, int | float):
            kwargs["timeout"] = (connect_s, min(float(given), limit) if given else limit)
        where = endpoint or url.split("/", 3)[:3][-1]
        for attempt in range(1, QUICK_ATTEMPTS + 1):
            try:
                return original(method, url, *args, **kwargs)
            except requests.exceptions.ConnectTimeout:
                raise EndpointUnreachable(
                    f"{what} at {where}: no connection within {connect_s:g} s "
                    f"(KUBEGCE_CONNECT_TIMEOUT); {unreachable_hint(endpoint, what)}"
                ) from None
            except requests.exceptions.ReadTimeout:
                raise EndpointSilent(
                    f"{what} at {where} accepted the connection but did not answer {method} within {limit:g} s "
                    f"(KUBEGCE_READ_TIMEOUT); is it the right endpoint, and is it overloaded?"
                ) from None
            except requests.exceptions.ConnectionError as exc:
                if not _refused_or_dns(exc):
                    raise  # a reset mid-call: the caller's retry loop handles it
                if attempt == QUICK_ATTEMPTS:
                    reason = "name not found" if _is_dns(exc) else "connection refused"
                    raise EndpointUnreachable(
                        f"{what} at {where}: {reason} ({QUICK_ATTEMPTS} attempts); {unreachable_hint(endpoint, what)}"
                    ) from None
                sleep(QUICK_PAUSE_S * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    session.request = request
    session._kubegce_guarded = True


def _is_dns(exc: BaseException) -> bool:
    text = str(exc)
    return any(s in text for s in ("NameResolutionError", "Name or service not known", "nodename nor servname",
                                   "getaddrinfo failed", "Temporary failure in name resolution"))  # fmt: skip


def _refused_or_dns(exc: BaseException) -> bool:
    text = str(exc)
    return _is_dns(exc) or "Connection refused" in text or "NewConnectionError" in text or "Errno 111" in text
