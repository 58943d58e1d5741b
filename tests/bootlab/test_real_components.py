"""Real programs against what the bootstrap writes (issue 20): systemd's own unit checker over every
unit and drop-in, and Debian's real containerd loading the rendered config.toml.

The bootstrap's functions (lib/binaries.sh configure_services, lib/token.sh install_token_keeper,
lib/health.sh install_api_health, lib/backup.sh install_etcd_backup) run for real in a private
mount namespace whose /etc is an empty tmpfs, so what they write is exactly what a node gets, and
nothing of the host's /etc is touched. Then:

- ``systemd-analyze verify`` (systemd 252, Debian's) checks each unit and the kubelet's drop-in,
  found through ``SYSTEMD_UNIT_PATH`` as systemd finds them on a node: unknown keys, bad values,
  commands that are not executable, broken dependencies.
- containerd 1.6.20 (Debian's, unpacked by scripts/install-test-tools.sh) starts with the rendered
  config version 2 in its own mount and network namespace (root, state and socket moved under a
  temp dir with its flags; the file itself unchanged); ``ctr plugins ls`` must show the CRI plugin
  ``ok``, and ``containerd config dump`` the sandbox image kubeadm wants, systemd cgroups and our
  runc. Config version 3 (containerd 2.x, Kubernetes 1.36 onwards) is not run here: Debian ships no
  containerd 2; containerd 1.6 ignores a version 3 file (measured, below), so the config version
  must follow the installed containerd, which one releases.py entry per minor guarantees. Only scripts/check-gcp.sh on a real project runs containerd 2.x.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from kubegce.boot import protocol
from kubegce.boot.render import template
from kubegce.boot.versions import pause_image
from kubegce.spec import releases
from tests.conftest import TOOLS

pytestmark = pytest.mark.bootlab
ROOT = Path(__file__).resolve().parents[2]
BIN = TOOLS / "root/usr/bin"
SBIN = TOOLS / "root/usr/sbin"
V2 = next(m for m in releases.SUPPORTED if m.containerd_config_version == 2)  # containerd 1.7's minors


def need(path: Path | str | None, what: str) -> str:
    if path is None or not Path(path).exists():
        if os.environ.get("KUBEGCE_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{what} is missing (scripts/install-test-tools.sh installs it)")
        pytest.skip(f"{what} is not installed (scripts/install-test-tools.sh)")
    return str(path)


def written_by_bootstrap(tmp_path: Path, version: str, config_version: int) -> Path:
    """Run configure_services and install_token_keeper with /etc an empty tmpfs; unpack what they
    wrote there into tmp_path/etc."""
    if os.geteuid() != 0:
        pytest.skip("needs root (a private mount namespace)")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("containerd", "kubelet", "runc", "systemctl"):
        (stubs / name).write_text("#!/bin/sh\nexit 0\n")
        (stubs / name).chmod(0o755)
    common = template("lib/common.sh").replace('KUBEGCE_LAB_ENV="/etc/kubegce/lab.env"', 'KUBEGCE_LAB_ENV="/none"')
    script = "\n".join([
        "set -o errexit -o nounset -o pipefail", "mount -t tmpfs none /etc", "mkdir -p /etc/kubegce",
        "KUBEGCE_CONFIG_SHA256=abc", "KUBEGCE_CONFIG_SOURCE=metadata:x", protocol.shell_constants(), common,
        template("lib/binaries.sh"), template("lib/token.sh"), template("lib/health.sh"), template("lib/restore.sh"),
        template("lib/backup.sh"),
        f"KUBEGCE_BIN_DIR={stubs}", f"KUBEGCE_CONTAINERD_CONFIG_VERSION={config_version}",
        f"KUBEGCE_SANDBOX_IMAGE={pause_image(version)}", "KUBEGCE_CNI_BIN_DIR=/opt/cni/bin",
        "KUBEGCE_ROLE=control-plane", "KUBEGCE_SECRETS_URL=https://storage.googleapis.com/x",
        f"KUBEGCE_TOKEN_KEEPER={tmp_path}/keep-join-token.sh",  # outside the tmpfs: its unit's ExecStart exists
        "KUBEGCE_API_LOAD_BALANCED=1", "KUBEGCE_API_PORT=443", "KUBEGCE_API_HEALTH_PORT=3990",
        f"KUBEGCE_API_HEALTH_SCRIPT={tmp_path}/api-health.sh",
        f"KUBEGCE_BACKUP_JOB={tmp_path}/etcd-backup.sh", "KUBEGCE_BACKUP_ENABLED=1", "KUBEGCE_CLUSTER_NAME=demo",
        "KUBEGCE_KUBERNETES_VERSION=1.35.0", "KUBEGCE_BACKUP_INTERVAL=900", "KUBEGCE_BACKUP_KEEP_ALL=3600",
        "KUBEGCE_BACKUP_KEEP_HOURLY=604800", "KUBEGCE_BACKUP_KEEP_DAILY=2592000", "KUBEGCE_BACKUP_LIST_URL=x",
        "KUBEGCE_BACKUP_OBJECT_URL=x", "KUBEGCE_BACKUP_UPLOAD_URL=x", "KUBEGCE_BACKUP_REQUEST_URL=x",
        "KUBEGCE_BACKUP_REQUEST_OBJECT_URL=x",
        "configure_services", "install_token_keeper", "install_api_health", "install_etcd_backup",
        "tar -C /etc -cf - .",
    ])  # fmt: skip
    env = {"PATH": f"{stubs}:{os.environ['PATH']}"}
    res = subprocess.run(["unshare", "--mount", "bash", "-c", script], capture_output=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    out = tmp_path / "etc"
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tar:
        tar.extractall(out, filter="data")
    return out


UNITS = [
    "containerd.service",
    "kubelet.service",
    "kubegce-join-token.service",
    "kubegce-join-token.timer",
    "kubegce-api-health.socket",
    "kubegce-api-health@.service",
    "kubegce-etcd-backup.service",
    "kubegce-etcd-backup.timer",
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written_by_bootstrap(tmp_path_factory.mktemp("v2"), V2.latest, 2)


def verify(units_dir: Path, unit: str) -> subprocess.CompletedProcess[str]:
    analyze = need(shutil.which("systemd-analyze"), "systemd-analyze")
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{units_dir}:"}  # ours first, then systemd's own
    return subprocess.run([analyze, "verify", "--man=no", "--generators=no", unit], capture_output=True,
                          text=True, env=env, timeout=60)  # fmt: skip


def test_the_bootstrap_writes_these_units_and_no_others(rendered: Path) -> None:
    units = rendered / "systemd/system"
    found = sorted(str(p.relative_to(units)) for p in units.rglob("*") if p.is_file())
    assert found == sorted([*UNITS, "kubelet.service.d/10-kubeadm.conf"])


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_accepts_each_unit(rendered: Path, unit: str) -> None:
    res = verify(rendered / "systemd/system", unit)
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr


def test_systemd_analyze_verify_reads_the_kubelet_drop_in(rendered: Path, tmp_path: Path) -> None:
    """The drop-in is read with its unit: a broken line in it is reported (so the check above has teeth)."""
    units = tmp_path / "units"
    shutil.copytree(rendered / "systemd/system", units)
    drop_in = units / "kubelet.service.d/10-kubeadm.conf"
    drop_in.write_text(drop_in.read_text() + "Restart=sometimes\n")
    res = verify(units, "kubelet.service")
    assert "10-kubeadm.conf:" in res.stderr and "restart" in res.stderr.lower()


def start_containerd(tmp_path: Path, config: Path) -> tuple[subprocess.Popen[bytes], Path]:
    containerd = need(BIN / "containerd", "containerd (Debian's, in .tools/)")
    sock = tmp_path / "containerd.sock"
    log = (tmp_path / "containerd.log").open("wb")
    env = {"PATH": f"{BIN}:{SBIN}:{os.environ['PATH']}"}
    proc = subprocess.Popen(["unshare", "--mount", "--net", containerd, "--config", str(config), "--root",
                             str(tmp_path / "root"), "--state", str(tmp_path / "state"), "--address", str(sock)],
                            stdout=log, stderr=log, env=env)  # fmt: skip
    return proc, sock


def test_real_containerd_loads_the_rendered_v2_config_with_the_cri_plugin(rendered: Path, tmp_path: Path) -> None:
    ctr = need(BIN / "ctr", "ctr (Debian's containerd, in .tools/)")
    config = rendered / "containerd/config.toml"
    proc, sock = start_containerd(tmp_path, config)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sock.exists(), (tmp_path / "containerd.log").read_text()
        plugins = subprocess.run([ctr, "--address", str(sock), "plugins", "ls"], capture_output=True, text=True,
                                 timeout=30).stdout  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    cri = [line.split() for line in plugins.splitlines() if line.split()[:2] == ["io.containerd.grpc.v1", "cri"]]
    assert cri and cri[0][-1] == "ok", plugins
    dump = subprocess.run([need(BIN / "containerd", "containerd"), "--config", str(config), "config", "dump"],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert dump.returncode == 0, dump.stderr
    assert f'sandbox_image = "{pause_image(V2.latest)}"' in dump.stdout  # what kubeadm expects
    assert "SystemdCgroup = true" in dump.stdout  # the kubelet's cgroupDriver: systemd
    assert 'BinaryName = "' in dump.stdout and '/runc"' in dump.stdout
    assert 'bin_dir = "/opt/cni/bin"' in dump.stdout


def test_containerd_1_x_ignores_a_version_3_config_so_the_version_must_match(tmp_path: Path) -> None:
    """Measured: containerd 1.6 does not refuse config version 3 (containerd 2.x's); it ignores the
    file's CRI sections and runs with its defaults, another sandbox image among them. So the
    config version must follow the containerd that is installed: both come from one releases.py
    entry per Kubernetes minor, checked here for every supported minor."""
    for minor in releases.SUPPORTED:
        assert minor.containerd_config_version == (3 if int(minor.containerd.split(".")[0]) >= 2 else 2), minor
    newest = releases.SUPPORTED[-1]
    v3 = written_by_bootstrap(tmp_path, newest.latest, 3) / "containerd/config.toml"
    assert v3.read_text().startswith("version = 3\n")
    dump = subprocess.run([need(BIN / "containerd", "containerd"), "--config", str(v3), "config", "dump"],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert dump.returncode == 0, dump.stderr
    assert pause_image(newest.latest) not in dump.stdout  # our sandbox image is not what 1.6 would use
