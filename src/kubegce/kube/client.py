"""The official `kubernetes` client behind a small boundary.

`kubernetes` is an optional extra and slow to import, so it is imported only when a client is
made. Its objects are `Any` here. Every call goes through `KubeClient.call`, which turns the
client's exceptions into `UserError`s that name the server and what to check: `KubeApiError` for an
error answer (with its HTTP status and Kubernetes reason, which callers test), a plain `UserError`
for an unreachable server or refused credentials.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubegce.errors import UserError

INSTALL_HINT = "pip install 'kubegce[kubernetes]'"
DEFAULT_TIMEOUT = (5.0, 30.0)  # seconds to connect, to read an answer


def kubernetes_module() -> Any:
    """The `kubernetes` package, imported now (it takes a while)."""
    try:
        return importlib.import_module("kubernetes")
    except ImportError:
        raise UserError(f"talking to the Kubernetes API needs the kubernetes client: {INSTALL_HINT}") from None


class KubeApiError(UserError):
    """The API server answered an error `Status`."""

    def __init__(
        self, server: str, what: str, status: int, reason: str, message: str, causes: list[dict[str, str]]
    ) -> None:
        self.server = server
        self.status = status
        self.reason = reason
        self.api_message = message
        self.causes = causes
        super().__init__(f"{what}: the Kubernetes API at {server} answered {status} {reason}: {message}")


def _short_reason(exc: BaseException) -> str:
    """urllib3's innermost reason without object reprs: 'Connection refused', 'timed out'."""
    inner: BaseException = exc
    while getattr(inner, "reason", None) is not None and isinstance(inner.reason, BaseException):  # type: ignore[attr-defined]
        inner = inner.reason  # type: ignore[attr-defined]
    text = re.sub(r"<[^>]*>:?\s*", "", str(inner)).strip()
    text = re.sub(r"^\w+\(host=[^)]*\):\s*", "", text)
    text = re.sub(r"^Failed to establish a new connection:\s*", "", text)
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    return text or type(inner).__name__


class KubeClient:
    """One API server: `core` (CoreV1Api) and `policy` (PolicyV1Api), `models` (kubernetes.client)."""

    def __init__(self, api_client: Any, *, source: str, request_timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self._k8s = kubernetes_module()
        self.api_client = api_client
        self.server = str(api_client.configuration.host)
        self.source = source
        self.request_timeout = request_timeout
        self.models: Any = self._k8s.client
        self.core: Any = self._k8s.client.CoreV1Api(api_client)
        self.policy: Any = self._k8s.client.PolicyV1Api(api_client)

    @classmethod
    def from_kubeconfig(
        cls, path: str | Path, *, context: str | None = None, request_timeout: tuple[float, float] = DEFAULT_TIMEOUT
    ) -> KubeClient:
        k8s = kubernetes_module()
        file = Path(path).expanduser()
        if not file.is_file():
            raise UserError(
                f"kubeconfig {file} does not exist: write the cluster's with `kubegce export kubeconfig NAME --admin --out {file}`"
            )
        cfg = k8s.client.Configuration()
        try:
            k8s.config.load_kube_config(
                config_file=str(file), context=context, client_configuration=cfg, persist_config=False
            )
        except Exception as exc:  # ConfigException, YAML errors, missing keys: all the user's file
            detail = str(exc).strip() or type(exc).__name__
            raise UserError(
                f"cannot load kubeconfig {file}: {detail}; check the file (or its context {context!r})"
            ) from None
        return cls(cls._api_client(k8s, cfg), source=f"kubeconfig {file}", request_timeout=request_timeout)

    @classmethod
    def from_url(
        cls, url: str, *, token: str | None = None, request_timeout: tuple[float, float] = DEFAULT_TIMEOUT
    ) -> KubeClient:
        """A server without a kubeconfig (the emulator's plain-http API on 127.0.0.1)."""
        k8s = kubernetes_module()
        cfg = k8s.client.Configuration()
        cfg.host = url.rstrip("/")
        if token:
            cfg.api_key = {"authorization": token}
            cfg.api_key_prefix = {"authorization": "Bearer"}
        return cls(cls._api_client(k8s, cfg), source=f"server URL {url}", request_timeout=request_timeout)

    @staticmethod
    def _api_client(k8s: Any, cfg: Any) -> Any:
        cfg.retries = 1  # one retry of a failed connection, not urllib3's default three
        return k8s.client.ApiClient(configuration=cfg)

    def call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`method(*args, **kwargs)` with a request timeout; `what` ("listing nodes") goes in errors."""
        kwargs.setdefault("_request_timeout", self.request_timeout)
        exceptions = self._k8s.client.exceptions
        try:
            return method(*args, **kwargs)
        except exceptions.ApiException as exc:
            status = int(exc.status or 0)
            if status == 0:  # no HTTP answer (TLS failure and the like)
                raise self._unreachable(what, str(exc.reason or exc)) from None
            reason, message, causes = str(exc.reason or ""), str(exc.reason or ""), []
            try:
                body = json.loads(exc.body or "")
            except (TypeError, ValueError):
                body = None
            if isinstance(body, dict):
                reason = str(body.get("reason") or reason)
                message = str(body.get("message") or message)
                details = body.get("details")
                if isinstance(details, dict):
                    causes = [
                        {str(k): str(v) for k, v in c.items()}
                        for c in details.get("causes") or []
                        if isinstance(c, dict)
                    ]
            if status in (401, 403):
                raise UserError(
                    f"{what}: the Kubernetes API at {self.server} refused the credentials in {self.source} "
                    f"({status} {reason}: {message}); check that they belong to this cluster and have not expired "
                    "(`kubegce export kubeconfig NAME --admin` writes fresh ones)"
                ) from None
            raise KubeApiError(self.server, what, status, reason, message, causes) from None
        except UserError:
            raise
        except Exception as exc:  # urllib3 connection, timeout and protocol errors; OSError
            raise self._unreachable(what, _short_reason(exc)) from None

    def _unreachable(self, what: str, reason: str) -> UserError:
        return UserError(
            f"{what}: cannot reach the Kubernetes API at {self.server} ({reason}); check that the cluster's API server "
            f"is up and reachable from here (`kubegce validate cluster NAME`), and that {self.source} names the right server"
        )

    def close(self) -> None:
        close = getattr(self.api_client, "close", None)
        if callable(close):
            close()
