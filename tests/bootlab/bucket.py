"""A state bucket for boot-lab machines: fake-gcs-server inside the boot's own network namespace,
filled with what kubegce writes for a cluster (node configs, role secrets, discovery objects)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from kubegce.boot.plans import render_cluster_boot
from kubegce.lab.run import lab_bundle, lab_catalog
from kubegce.spec.models import Role
from kubegce.state.base import DirUrls
from kubegce.state.layout import discovery_key, election_key, role_of, role_secrets_key
from kubegce.state.pki import ClusterSecrets, role_bundle
from tests.conftest import fake_gcs_binary

PORT = 4443  # inside the boot's own network namespace: always free
BUCKET = "lab-state"


class LabBucket:
    nodes_can_read = True

    def object_url(self, key: str) -> str:
        return f"http://127.0.0.1:{PORT}/storage/v1/b/{BUCKET}/o/{quote('team/' + key, safe='')}?alt=media"

    def upload_url(self, key: str) -> str:
        return f"http://127.0.0.1:{PORT}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={quote('team/' + key, safe='')}"

    def create_url(self, key: str) -> str:
        name = quote("team/" + key, safe="")
        return f"http://127.0.0.1:{PORT}/upload/storage/v1/b/{BUCKET}/o?uploadType=multipart&name={name}&ifGenerationMatch=0"

    def dir_urls(self, directory: str) -> DirUrls:
        name = quote("team/" + directory, safe="")
        return DirUrls(f"http://127.0.0.1:{PORT}/storage/v1/b/{BUCKET}/o?prefix={name}%2F",
                       f"http://127.0.0.1:{PORT}/storage/v1/b/{BUCKET}/o/{name}%2F",
                       f"http://127.0.0.1:{PORT}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}%2F")  # fmt: skip


def prepare(tmp_path: Path, tamper: bool = False, role: Role = Role.NODE, secrets_: ClusterSecrets | None = None,
            api_address: str | None = "10.0.16.9", control_planes: int = 1,
            election_holder: str | None = None, extra: dict[str, bytes] | None = None,
            image: str = "rocky-linux-cloud/rocky-linux-9") -> tuple[dict[str, str], dict[str, object]]:  # fmt: skip
    """The metadata of a ``role`` instance and the lab's ``gcs`` argument for its boot; ``extra``:
    more objects (by key) in the bucket."""
    bundle = lab_bundle(image)
    for g in bundle.instance_groups:
        if g.spec.role == Role.CONTROL_PLANE:
            g.spec.min_size = g.spec.max_size = control_planes
    boot = render_cluster_boot(bundle, lab_catalog(), store=LabBucket())
    node = next(g for g in boot.groups if g.group.spec.role == role)
    objects = dict(boot.node_objects)
    secrets_ = secrets_ or ClusterSecrets.generate()
    for role_name in ("control-plane", "node"):
        objects[role_secrets_key(bundle.cluster.name, role_name)] = role_bundle(
            secrets_, role_name, bundle.cluster.name, "https://api:443"
        )
    if api_address is not None:
        objects[discovery_key(bundle.cluster.name)] = api_address.encode()
    if election_holder is not None:
        objects[election_key(bundle.cluster.name)] = election_holder.encode()
    objects.update(extra or {})
    if tamper:
        key = next(k for k in objects if k.endswith(f"{node.group.name}.env") and role_of(node.group) in k)
        objects[key] = objects[key].replace(b"KUBEGCE_ROLE=node", b"KUBEGCE_ROLE=control-plane")
    data = tmp_path / "gcs"
    for key, content in objects.items():
        path = data / BUCKET / "team" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    assert "kubegce-node-config" not in node.metadata  # only the pointer and the hash travel in metadata
    assert "storage/v1/b/lab-state" in node.metadata.get("startup-script", "") + node.metadata.get("user-data", "")
    return node.metadata, {"binary": fake_gcs_binary(), "port": PORT, "data": str(data),
                           "read_objects": [f"{BUCKET}/team/{discovery_key(bundle.cluster.name)}",
                                            f"{BUCKET}/team/{election_key(bundle.cluster.name)}"]}  # fmt: skip
