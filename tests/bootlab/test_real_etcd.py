"""A recreated control plane's etcd member against a real three-member etcd (issue 20).

Debian's etcd 3.4.23 and etcdctl (unpacked into .tools/ by scripts/install-test-tools.sh) run three
members in a network namespace the test makes, each at its own address (127.0.0.11-13, one per
"instance"), each with its data directory where lib/etcd.sh puts it on the etcd disk (``data/``
beside ``kubegce/member.env``). A member is then recreated the way a control-plane roll recreates
it: the process dies, the boot disk's files go, the etcd disk is kept. The bootstrap's own
address check (lib/etcd.sh check_etcd_address, run for real) decides from the disk's record
whether the member may start; started on its kept data directory with the flags the static pod
gives it, it must come back as the same member, with what was written while it was away, and the
cluster must keep quorum throughout. The cluster's own etcd (kubeadm's 3.5/3.6 image) is not run
here; 3.4 behaves the same for a restart on kept data (etcd server/etcdserver/server.go: an
existing WAL means the member's identity comes from its data, and --initial-cluster is ignored).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegce.boot import protocol
from kubegce.boot.render import template
from tests.conftest import TOOLS

pytestmark = pytest.mark.bootlab
BIN = TOOLS / "root/usr/bin"
NAMES = ("cp-a", "cp-b", "cp-c")
ADDRESSES = {n: f"127.0.0.{11 + i}" for i, n in enumerate(NAMES)}


def need(path: Path, what: str) -> str:
    if not path.exists():
        if os.environ.get("KUBEGCE_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{what} is missing (scripts/install-test-tools.sh installs it)")
        pytest.skip(f"{what} is not installed (scripts/install-test-tools.sh)")
    return str(path)


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.etcd = need(BIN / "etcd", "etcd (Debian's etcd-server, in .tools/)")
        self.etcdctl = need(BIN / "etcdctl", "etcdctl (Debian's etcd-client, in .tools/)")
        if os.geteuid() != 0:
            pytest.skip("needs root (a network namespace)")
        self.ns = subprocess.Popen(["unshare", "--net", "--fork", "sh", "-c", "ip link set lo up; exec sleep 600"])
        time.sleep(0.3)
        self.members: dict[str, subprocess.Popen[bytes]] = {}

    def disk(self, name: str) -> Path:
        return self.tmp / f"disk-{name}"

    def nsenter(self) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.ns.pid}/ns/net"]

    def start(self, name: str, address: str | None = None) -> None:
        """The member as the static pod starts it: its name, its address, its data directory."""
        ip = address or ADDRESSES[name]
        initial = ",".join(f"{n}=http://{a}:2380" for n, a in ADDRESSES.items())
        log = (self.tmp / f"{name}.log").open("ab")
        self.members[name] = subprocess.Popen([
            *self.nsenter(), self.etcd, "--name", name, "--data-dir", str(self.disk(name) / "data"),
            "--listen-peer-urls", f"http://{ip}:2380", "--initial-advertise-peer-urls", f"http://{ip}:2380",
            "--listen-client-urls", f"http://{ip}:2379", "--advertise-client-urls", f"http://{ip}:2379",
            "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", "kubegce-lab",
        ], stdout=log, stderr=log)  # fmt: skip

    def ctl(self, name: str, *args: str, timeout: str = "5s") -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.nsenter(), self.etcdctl, "--endpoints", f"http://{ADDRESSES[name]}:2379",
                               "--command-timeout", timeout, *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "ETCDCTL_API": "3"})  # fmt: skip

    def put(self, via: str, key: str, value: str, seconds: float = 20) -> None:
        """A write that must succeed: with a member gone, after at most a leader election."""
        deadline = time.monotonic() + seconds
        while True:
            res = self.ctl(via, "put", key, value, timeout="3s")
            if res.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"write through {via} failed: {res.stderr[-500:]}")
            time.sleep(0.2)

    def wait_healthy(self, name: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.ctl(name, "endpoint", "health", timeout="2s").returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"{name} not healthy: {(self.tmp / f'{name}.log').read_text()[-2000:]}")

    def member_ids(self, via: str) -> dict[str, str]:
        res = self.ctl(via, "member", "list")
        assert res.returncode == 0, res.stderr
        return {line.split(", ")[2]: line.split(", ")[0] for line in res.stdout.splitlines()}

    def kill(self, name: str) -> None:
        self.members[name].kill()
        self.members[name].wait()

    def stop(self) -> None:
        for p in self.members.values():
            p.kill()
            p.wait()
        self.ns.kill()
        self.ns.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        for name in NAMES:
            record = c.disk(name) / "kubegce/member.env"
            record.parent.mkdir(parents=True)
            record.write_text(
                f"ADVERTISE_ADDRESS={ADDRESSES[name]}\nKUBERNETES_VERSION=1.36.4\nFIRST_CONTROL_PLANE=0\n"
            )
            c.start(name)
        for name in NAMES:
            c.wait_healthy(name)
        yield c
    finally:
        c.stop()


def address_check(disk: Path, instance_address: str) -> subprocess.CompletedProcess[str]:
    """lib/etcd.sh's check_etcd_address on the kept disk, the instance's address from metadata."""
    common = template("lib/common.sh").replace('KUBEGCE_LAB_ENV="/etc/kubegce/lab.env"', 'KUBEGCE_LAB_ENV="/none"')
    script = "\n".join([
        "set -o errexit -o nounset -o pipefail", "KUBEGCE_CONFIG_SHA256=abc", "KUBEGCE_CONFIG_SOURCE=metadata:x",
        protocol.shell_constants(), common, template("lib/etcd.sh"), f"KUBEGCE_ETCD_MOUNT={disk}",
        f"metadata_get() {{ echo {instance_address}; }}",
        'report_phase() { echo "phase=$1 ${2:-}" >&2; }',
        "KUBEGCE_ROLE=control-plane", "etcd_member_on_disk", "check_etcd_address", "echo may-start",
    ])  # fmt: skip
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)


def test_a_recreated_member_on_its_kept_disk_rejoins_as_itself_and_quorum_holds(cluster: Cluster) -> None:
    cluster.put("cp-a", "/registry/before", "1")
    ids = cluster.member_ids("cp-a")
    cluster.kill("cp-c")  # recreateInstances: the VM goes; its etcd disk is kept
    cluster.put("cp-a", "/registry/while-away", "2")  # two of three: quorum kept
    check = address_check(cluster.disk("cp-c"), ADDRESSES["cp-c"])  # same name, same internal IP
    assert check.returncode == 0 and "may-start" in check.stdout, check.stderr
    cluster.start("cp-c")  # the kept static pod, on the kept data directory
    cluster.wait_healthy("cp-c")
    assert cluster.member_ids("cp-c") == ids  # the same member, not a new one
    got = cluster.ctl("cp-c", "get", "/registry/while-away", "--print-value-only")
    assert got.stdout.strip() == "2", got.stderr
    health = cluster.ctl("cp-a", "endpoint", "health", "--cluster")
    out = health.stdout + health.stderr  # etcdctl 3.4 prints the health lines on stderr
    assert health.returncode == 0 and out.count("is healthy") == 3, out


def test_a_kept_disk_on_another_address_is_refused_before_etcd_starts(cluster: Cluster) -> None:
    cluster.kill("cp-c")
    check = address_check(cluster.disk("cp-c"), "127.0.0.99")
    assert check.returncode == 1 and "may-start" not in check.stdout
    assert "127.0.0.13" in check.stderr and "127.0.0.99" in check.stderr
    # started anyway, the other two keep quorum and still list the member at its old address only
    cluster.start("cp-c", address="127.0.0.99")
    cluster.put("cp-a", "/registry/k", "v")
    assert cluster.member_ids("cp-a")["cp-c"]  # still listed under its old identity
