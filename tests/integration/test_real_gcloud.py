"""Google's own gcloud as a second, real client of the emulator (issue 21): the commands a user
types to inspect what kubegce made (instances, groups and their instances, templates, networks,
subnets, disks, serial output, guest attributes) succeed and agree with `kubegce get instances`.

gcloud (google-cloud-cli; 528.0.0 on this machine) is pointed at the emulator as docs/emulator.md
says, in a configuration directory of the test's own: `api_endpoint_overrides/compute` and
`auth/disable_credentials`. The cluster has three control planes, so the API's target pool, its
legacy HTTP health check and `target-pools get-health` are read too. What gcloud exercises that kubegce's client does not: the batch
endpoint (`instance-groups managed list` reads groups, instance groups and autoscalers in one
multipart request), `returnPartialSuccess` on every aggregated list, instance groups and
autoscalers, and a managed instance's `name`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator

pytestmark = pytest.mark.integration

CLUSTER = "demo.example.com"


def kubegce(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": endpoint}
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


class Gcloud:
    def __init__(self, binary: str, endpoint: str, config: Path) -> None:
        self.binary = binary
        self.env = {**os.environ, "CLOUDSDK_CONFIG": str(config), "CLOUDSDK_CORE_PROJECT": "my-proj",
                    "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
                    "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true"}  # fmt: skip
        # the two lines `kubegce emulator` prints
        for prop, value in (("api_endpoint_overrides/compute", f"{endpoint}/compute/v1/"),
                            ("auth/disable_credentials", "true")):  # fmt: skip
            r = self.run("config", "set", prop, value, check=False)
            assert r.returncode == 0, r.stderr

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([self.binary, *args], capture_output=True, text=True, env=self.env, timeout=120)
        if check:
            assert r.returncode == 0, r.stderr
            # gcloud lists exit 0 with a warning when some scopes failed: that is a failure here
            assert "did not succeed" not in r.stderr, r.stderr
        return r

    def json(self, *args: str) -> list[dict[str, object]]:
        data = json.loads(self.run("compute", *args, "--format=json").stdout)
        return data if isinstance(data, list) else [data]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningEmulator, Gcloud]]:
    binary = shutil.which("gcloud")
    if binary is None:
        if os.environ.get("KUBEGCE_REQUIRE_TOOLS") == "1":
            pytest.fail("gcloud is missing (google-cloud-cli)")
        pytest.skip("gcloud (google-cloud-cli) is not installed")
    tmp = tmp_path_factory.mktemp("gcloud")
    mp = pytest.MonkeyPatch()
    mp.setenv("KUBEGCE_STATE", f"file://{tmp / 'state'}")
    mp.setenv("KUBEGCE_USER_CATALOG", str(tmp / "no-user-catalog.yaml"))
    try:
        with RunningEmulator(0, FaultConfig(operation_ms=20), boot_seconds=0.5) as emu:
            r = kubegce(emu.endpoint, "create", "cluster", CLUSTER, "--project", "my-proj", "--zones",
                        "us-central1-a,us-central1-b,us-central1-c", "--image", "rocky-linux-cloud/rocky-linux-9",
                        "--node-count", "2", "--control-plane-count", "3")  # fmt: skip  # HA: the API's pool
            assert r.returncode == 0, r.stderr
            r = kubegce(emu.endpoint, "update", "cluster", CLUSTER, "--yes")
            assert r.returncode == 0, r.stderr
            r = kubegce(emu.endpoint, "validate", "cluster", CLUSTER, "--wait", "60s", "--interval", "0.5")
            assert r.returncode == 0, r.stderr
            yield emu, Gcloud(binary, emu.endpoint, tmp / "gcloud-config")
    finally:
        mp.undo()


def kubegce_instances(emu: RunningEmulator) -> list[dict[str, str]]:
    r = kubegce(emu.endpoint, "get", "instances", CLUSTER, "-o", "json")
    assert r.returncode == 0, r.stderr
    rows: list[dict[str, str]] = json.loads(r.stdout)
    return rows


def tail(url: object) -> str:
    return str(url).rsplit("/", 1)[-1]


def test_instances_list_and_describe_agree_with_kubegce(cluster: tuple[RunningEmulator, Gcloud]) -> None:
    emu, gcloud = cluster
    ours = {(i["instance"], i["zone"]) for i in kubegce_instances(emu)}
    listed = gcloud.json("instances", "list")
    assert {(str(i["name"]), tail(i["zone"])) for i in listed} == ours
    assert {i["status"] for i in listed} == {"RUNNING"}
    name, zone = sorted(ours)[0]
    described = gcloud.json("instances", "describe", name, "--zone", zone)[0]
    labels = described["labels"]
    assert isinstance(labels, dict) and labels["kubegce-cluster"] == "demo-example-com"


def test_groups_their_instances_and_templates(cluster: tuple[RunningEmulator, Gcloud]) -> None:
    emu, gcloud = cluster
    ours = kubegce_instances(emu)
    groups = gcloud.json("instance-groups", "managed", "list")  # a batch request: groups, instance groups, autoscalers
    assert groups and all(int(str(g["size"])) == g["targetSize"] for g in groups)  # gcloud adds size as text
    assert {str(g["baseInstanceName"]) for g in groups} == {i["instance"].rsplit("-", 1)[0] for i in ours}
    seen: set[str] = set()
    for g in groups:
        zone = tail(g["zone"])
        described = gcloud.json("instance-groups", "managed", "describe", str(g["name"]), "--zone", zone)[0]
        assert described["status"] == {"isStable": True, "versionTarget": {"isReached": True}}
        members = gcloud.json("instance-groups", "managed", "list-instances", str(g["name"]), "--zone", zone)
        for m in members:
            assert m["name"] == tail(m["instance"]) and m["instanceStatus"] == "RUNNING"
            assert m["currentAction"] == "NONE"
            version = m["version"]
            assert isinstance(version, dict) and tail(version["instanceTemplate"]) == tail(g["instanceTemplate"])
            seen.add(str(m["name"]))
    assert seen == {i["instance"] for i in ours}
    unmanaged = gcloud.json("instance-groups", "list")
    assert {str(g["name"]) for g in unmanaged} == {str(g["name"]) for g in groups}
    templates = {str(t["name"]) for t in gcloud.json("instance-templates", "list")}
    assert {tail(g["instanceTemplate"]) for g in groups} <= templates


def test_network_subnets_disks(cluster: tuple[RunningEmulator, Gcloud]) -> None:
    emu, gcloud = cluster
    assert [n["name"] for n in gcloud.json("networks", "list")] == ["demo-example-com"]
    subnets = gcloud.json("networks", "subnets", "list")
    assert [tail(s["network"]) for s in subnets] == ["demo-example-com"]
    disks = gcloud.json("disks", "list")
    instances = {i["instance"] for i in kubegce_instances(emu)}
    assert instances <= {str(d["name"]) for d in disks}  # boot disks, and the control plane's etcd disk
    assert {d["status"] for d in disks} == {"READY"}
    rules = {str(f["name"]) for f in gcloud.json("firewall-rules", "list")}
    assert any(r.startswith("node-to-node-") for r in rules)


def test_serial_output_and_guest_attributes(cluster: tuple[RunningEmulator, Gcloud]) -> None:
    emu, gcloud = cluster
    row = kubegce_instances(emu)[0]
    serial = gcloud.run("compute", "instances", "get-serial-port-output", row["instance"], "--zone", row["zone"])
    assert "kubegce-boot: phase=joined" in serial.stdout
    attrs = gcloud.json("instances", "get-guest-attributes", row["instance"], "--zone", row["zone"],
                        "--query-path", "kubegce/")  # fmt: skip
    assert {str(a["key"]): a["value"] for a in attrs}["phase"] == row["phase"] == "joined"


def test_the_api_pool_its_health_check_and_each_control_planes_health(cluster: tuple[RunningEmulator, Gcloud]) -> None:
    emu, gcloud = cluster
    (check,) = gcloud.json("http-health-checks", "list")
    assert check["port"] == 3990 and check["requestPath"] == "/readyz"
    (pool,) = gcloud.json("target-pools", "list")
    described = gcloud.json("target-pools", "describe", str(pool["name"]), "--region", "us-central1")[0]
    assert [tail(u) for u in described["healthChecks"]] == [check["name"]]  # type: ignore[attr-defined]
    control_planes = {i["instance"] for i in kubegce_instances(emu) if "control-plane" in i["group"]}
    assert {tail(u) for u in described["instances"]} == control_planes  # type: ignore[attr-defined]
    states = gcloud.json("target-pools", "get-health", str(pool["name"]), "--region", "us-central1")
    assert {tail(h["healthStatus"][0]["instance"]): h["healthStatus"][0]["healthState"]  # type: ignore[index]
            for h in states} == dict.fromkeys(control_planes, "HEALTHY")  # fmt: skip


def test_a_missing_resource_is_gcloud_not_found(cluster: tuple[RunningEmulator, Gcloud]) -> None:
    _, gcloud = cluster
    r = gcloud.run("compute", "instances", "describe", "no-such-vm", "--zone", "us-central1-a", check=False)
    assert r.returncode != 0 and "was not found" in r.stderr
