"""Compute API access, built once with shared options; with an endpoint (our emulator) anonymous
credentials are used.

Two ways in, one session policy (pool size, timeouts, fail-fast; see :mod:`kubegce.net`):

* :meth:`ComputeClients.rest` sends JSON through kubegce's own authorized session. Plans (lists,
  gets, image reads, zones, machine types) and the hot calls of an apply (inserts, deletes,
  operation waits) go this way: no protobuf round trip, and no import of google-cloud-compute's
  message types (about 0.6 s), so a plan starts in well under a second.
* The library's clients (``clients.instances``, ``clients.networks`` ...) are built on first use,
  for the calls that still go through them (patches and the MIG verbs of updates and rolling
  updates, serial output, guest attributes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from kubegce.cloud.kinds import REGISTRY
from kubegce.errors import UserError
from kubegce.net import check_endpoint, guard_session

GOOGLE_API = "https://compute.googleapis.com"
MAX_PAGES = 1000  # of one list call (500 items each): a server whose page tokens never end is refused

# library clients kubegce uses besides one per registered kind (the rest goes as JSON):
# attribute -> compute_v1 client type
_EXTRA_CLIENTS = {"instances": "InstancesClient"}


@dataclass
class ComputeClients:
    endpoint: str | None
    not_found: type[Exception]
    api_error: type[Exception]
    session: Any  # google.auth.transport.requests.AuthorizedSession, guarded
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    local: bool = False
    built: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ library clients, on first use
    @property
    def compute(self) -> Any:
        """The compute_v1 module (request and resource types), loaded by the piece."""
        from kubegce.cloud.gce.lib import load_compute

        return load_compute()

    @property
    def kinds(self) -> dict[str, Any]:
        """One library client per registered kind the library serves, by its binding's name."""
        return {k.api.client: getattr(self, k.api.client) for k in REGISTRY.values() if k.api.library}

    def __getattr__(self, name: str) -> Any:
        built = self.__dict__.get("built")
        if built is None or name.startswith("_"):
            raise AttributeError(name)
        if name in built:
            return built[name]
        client_type = _EXTRA_CLIENTS.get(name) or next(
            (k.api.client_type for k in REGISTRY.values() if k.api.client == name), None
        )
        if client_type is None:
            raise AttributeError(f"ComputeClients has no client {name!r}")
        client = getattr(self.compute, client_type)(transport="rest", **self.client_kwargs)
        session = getattr(getattr(client, "_transport", None), "_session", None)
        if session is not None:
            tune_session(session, self.endpoint, local=self.local)
        built[name] = client
        return client

    @classmethod
    def create(cls, endpoint: str | None = None) -> ComputeClients:
        endpoint = endpoint or os.environ.get("KUBEGCE_COMPUTE_ENDPOINT") or None
        if endpoint:
            endpoint = check_endpoint(endpoint, "--endpoint / KUBEGCE_COMPUTE_ENDPOINT")
        from google.api_core import exceptions
        from google.auth.transport.requests import AuthorizedSession

        kwargs: dict[str, Any] = {}
        if endpoint:
            from google.api_core.client_options import ClientOptions
            from google.auth.credentials import AnonymousCredentials

            credentials: Any = AnonymousCredentials()  # type: ignore[no-untyped-call]
            kwargs = {"client_options": ClientOptions(api_endpoint=endpoint), "credentials": credentials}
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
        local = bool(endpoint) and any(f"://{h}" in str(endpoint) for h in ("127.", "localhost", "[::1]"))
        session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        tune_session(session, endpoint, local=local)
        return cls(endpoint=endpoint, not_found=exceptions.NotFound, api_error=exceptions.GoogleAPICallError,
                   session=session, client_kwargs=kwargs, local=local)  # fmt: skip

    # ------------------------------------------------------------------ JSON
    def rest(self, method: str, path: str, body: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """One call to the Compute REST API as JSON: ``path`` is under ``compute/v1/``
        (``projects/P/global/networks``). Errors are the library's exceptions
        (``google.api_core.exceptions.from_http_response``), so callers handle both ways alike."""
        url = f"{self.endpoint or GOOGLE_API}/compute/v1/{path}"
        response = self.session.request(method, url, json=body, params=params)
        if response.status_code >= 400:
            from google.api_core.exceptions import from_http_response

            raise from_http_response(response)  # type: ignore[no-untyped-call]
        try:
            answer = response.json()
        except ValueError:  # an empty body, or a proxy's HTML page
            answer = None
            what = f"not JSON ({response.headers.get('Content-Type') or 'no type'}, {len(response.content)} bytes)"
        else:
            what = f"a JSON {type(answer).__name__}"
        if not isinstance(answer, dict):
            from google.api_core.exceptions import from_http_status

            # shaped like from_http_response's errors ("200 POST URL: ..."; a bare api_error read "None ...")
            raise from_http_status(  # type: ignore[no-untyped-call]
                response.status_code,
                f"{method} {response.url}: the answer is {what}, not a JSON object; is {self.endpoint or GOOGLE_API} "
                "the Compute API?",
                response=response,
            )
        return answer

    def rest_pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every page of a list call (``nextPageToken``), in order."""
        pages = [self.rest("GET", path, params=params)]
        seen: set[str] = set()
        while token := pages[-1].get("nextPageToken"):
            if not isinstance(token, str) or token in seen or len(pages) >= MAX_PAGES:
                raise self.api_error(f"GET {path}: the API's page tokens do not end (page {len(pages)}); is "
                                     f"{self.endpoint or GOOGLE_API} the Compute API?")  # fmt: skip
            seen.add(token)
            pages.append(self.rest("GET", path, params={**params, "pageToken": token}))
        return pages


def tune_session(session: Any, endpoint: str | None, *, local: bool, size: int = 512) -> None:
    """requests keeps 10 connections per host by default; a parallel apply wants more. A local
    emulator needs no proxy settings, which requests otherwise re-reads from the environment on
    every call. Every session gets kubegce's timeouts and fail-fast connection errors."""
    from requests.adapters import HTTPAdapter

    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if local:
        session.trust_env = False
    guard_session(session, endpoint or GOOGLE_API, "Compute API")
