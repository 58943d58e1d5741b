"""The metadata server speaks computeMetadata/v1 as the guest software expects."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from kubegce.emulator.metadata import InstanceIdentity, MetadataServer, MetadataStore


@pytest.fixture
def server() -> Iterator[MetadataServer]:
    store = MetadataStore(InstanceIdentity(name="node-1"), attributes={"startup-script": "#!/bin/sh\n", "a": "b"},
                          project_attributes={"ssh-keys": "k"})  # fmt: skip
    srv = MetadataServer(store).start()
    yield srv
    srv.stop()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def get(srv: MetadataServer, path: str, flavor: bool = True, method: str = "GET", data: bytes | None = None
        ) -> tuple[int, str, dict[str, str]]:  # fmt: skip
    req = urllib.request.Request(srv.url + path, method=method, data=data)
    if flavor:
        req.add_header("Metadata-Flavor", "Google")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=5) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def test_requires_flavor_header(server: MetadataServer) -> None:
    assert get(server, "/instance/id", flavor=False)[0] == 403
    status, body, headers = get(server, "/instance/id")
    assert status == 200 and body == "4567890123456789012" and headers["Metadata-Flavor"] == "Google"
    assert any(not r.flavor and r.status == 403 for r in server.store.log)


def test_values_listings_recursive_and_alt_json(server: MetadataServer) -> None:
    assert get(server, "/instance/attributes/a")[1] == "b"
    assert get(server, "/instance/attributes/")[1] == "startup-script\na\n"
    status, _, headers = get(server, "/instance/attributes")
    assert status == 301 and headers["Location"].endswith("/instance/attributes/")
    data = json.loads(get(server, "/instance/attributes/?recursive=true&alt=json&timeout_sec=10&last_etag=NONE")[1])
    assert data == {"startup-script": "#!/bin/sh\n", "a": "b"}
    assert json.loads(get(server, "/project/attributes/?recursive=True")[1]) == {"ssh-keys": "k"}
    assert get(server, "/project/project-id")[1] == ""
    assert get(server, "/instance/zone")[1].endswith("/zones/us-central1-a")
    inst = json.loads(get(server, "/instance/?recursive=true")[1])
    assert inst["serviceAccounts"]["default"]["email"].endswith("iam.gserviceaccount.com")
    assert get(server, "/instance/nope")[0] == 404


def test_guest_attributes_token_and_identity(server: MetadataServer) -> None:
    assert get(server, "/instance/guest-attributes/kubegce/phase", method="PUT", data=b"started")[0] == 200
    assert server.store.guest_attributes == {"kubegce": {"phase": "started"}}
    assert get(server, "/instance/guest-attributes/kubegce/phase")[1] == "started"
    token = json.loads(get(server, "/instance/service-accounts/default/token")[1])
    assert token["token_type"] == "Bearer" and token["access_token"]
    assert get(server, "/instance/service-accounts/default/identity")[0] == 400
    jwt = get(server, "/instance/service-accounts/default/identity?audience=kubegce&format=full")[1]
    assert jwt.count(".") == 2
