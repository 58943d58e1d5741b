"""Compute API clients, built once with shared options. The library is imported lazily (it costs
about two seconds); with an endpoint (our emulator) the clients use anonymous credentials."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from kubegce.cloud.kinds import REGISTRY
from kubegce.errors import UserError
from kubegce.net import check_endpoint, guard_session


@dataclass
class ComputeClients:
    endpoint: str | None
    images: Any
    instances: Any
    global_operations: Any
    region_operations: Any
    zone_operations: Any
    zones: Any
    machine_types: Any
    not_found: type[Exception]
    api_error: type[Exception]
    compute: Any  # the compute_v1 module, for request/resource types
    # one client per registered kind (kubegce.cloud.kinds), by its binding's name: clients.networks, ...
    kinds: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        kinds = self.__dict__.get("kinds", {})
        if name in kinds:
            return kinds[name]
        raise AttributeError(f"ComputeClients has no client {name!r}")

    @classmethod
    def create(cls, endpoint: str | None = None) -> ComputeClients:
        endpoint = endpoint or os.environ.get("KUBEGCE_COMPUTE_ENDPOINT") or None
        if endpoint:
            endpoint = check_endpoint(endpoint, "--endpoint / KUBEGCE_COMPUTE_ENDPOINT")
        try:
            from google.api_core import exceptions
            from google.api_core.client_options import ClientOptions

            from kubegce.cloud.gce.lib import load_compute

            compute_v1 = load_compute()
        except ImportError as exc:  # pragma: no cover - dependency is declared
            raise UserError(f"google-cloud-compute is not installed ({exc}); pip install kubegce again") from None
        kwargs: dict[str, Any] = {}
        if endpoint:
            from google.auth.credentials import AnonymousCredentials

            kwargs = {
                "client_options": ClientOptions(api_endpoint=endpoint),
                "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
            }
        else:
            import google.auth
            from google.auth.exceptions import DefaultCredentialsError

            try:
                credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            except DefaultCredentialsError as exc:
                raise UserError(
                    f"no Google credentials ({exc}); run `gcloud auth application-default login`, "
                    "or point --endpoint / KUBEGCE_COMPUTE_ENDPOINT at `kubegce emulator`"
                ) from None
            kwargs = {"credentials": credentials}
        c = compute_v1
        clients = cls(
            endpoint=endpoint,
            images=c.ImagesClient(transport="rest", **kwargs),
            instances=c.InstancesClient(transport="rest", **kwargs),
            global_operations=c.GlobalOperationsClient(transport="rest", **kwargs),
            region_operations=c.RegionOperationsClient(transport="rest", **kwargs),
            zone_operations=c.ZoneOperationsClient(transport="rest", **kwargs),
            zones=c.ZonesClient(transport="rest", **kwargs),
            machine_types=c.MachineTypesClient(transport="rest", **kwargs),
            not_found=exceptions.NotFound,
            api_error=exceptions.GoogleAPICallError,
            compute=c,
            kinds={k.api.client: getattr(c, k.api.client_type)(transport="rest", **kwargs) for k in REGISTRY.values()},
        )
        clients._tune_sessions(local=bool(endpoint) and ("://127." in str(endpoint) or "://localhost" in str(endpoint)))
        return clients

    def rest(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call to the Compute REST API as JSON, through the clients' own authorized, guarded
        session: ``path`` is under ``compute/v1/`` (``projects/P/global/networks``). For the hot
        calls (inserts, operation waits) this skips the library's dict -> protobuf -> JSON round trip,
        which costs about half the client's CPU per call. Errors are the library's exceptions
        (``google.api_core.exceptions.from_http_response``), so callers handle both paths alike."""
        transport = self.images._transport
        response = transport._session.request(method, f"{transport._host}/compute/v1/{path}", json=body)
        if response.status_code >= 400:
            from google.api_core.exceptions import from_http_response

            raise from_http_response(response)  # type: ignore[no-untyped-call]
        answer = response.json()
        if not isinstance(answer, dict):
            raise self.api_error(f"{method} {path}: the API answered {type(answer).__name__}, not an object")
        return answer

    def _tune_sessions(self, *, local: bool, size: int = 512) -> None:
        """requests keeps 10 connections per host by default; a parallel apply wants more. A local
        emulator needs no proxy settings, which requests otherwise re-reads from the environment
        on every call."""
        from requests.adapters import HTTPAdapter

        for value in [*vars(self).values(), *self.kinds.values()]:
            session = getattr(getattr(value, "_transport", None), "_session", None)
            if session is not None:
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=size)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                if local:
                    session.trust_env = False
                guard_session(session, self.endpoint or "https://compute.googleapis.com", "Compute API")
