"""Fedora CoreOS in the boot lab (profile ``fcos-like``): no cloud-init and no guest agent; the
real Ignition (Debian's build of 2.14) fetches the rendered user-data from 169.254.169.254 on
first boot and runs its files stage on the root; the lab then starts the systemd units Ignition
enabled, on every boot. /usr is read-only."""

from __future__ import annotations

import json
import os

import pytest

from kubegce.boot.render import IGNITION_SCRIPT_PATH, IGNITION_UNIT
from kubegce.errors import UserError
from kubegce.lab.profiles import PROFILES
from kubegce.lab.run import BootResult, LabMachine, lab_bundle, render_node_metadata
from tests.bootlab.scenarios import require_ignition

pytestmark = pytest.mark.bootlab
FCOS = "fedora-coreos-cloud/fedora-coreos-stable"


@pytest.fixture(scope="module", autouse=True)
def _ignition() -> None:
    require_ignition()


def fcos_machine() -> tuple[LabMachine, dict[str, str]]:
    metadata, channel = render_node_metadata(lab_bundle(FCOS))
    assert channel == "user-data" and "startup-script" not in metadata
    return LabMachine(PROFILES["fcos-like"], metadata), metadata


def ignition_fetches(result: BootResult) -> list[dict[str, object]]:
    return [r for r in result.raw["requests"] if str(r["path"]).endswith("/instance/attributes/user-data")]


def test_fcos_first_boot_through_ignition_then_reboot() -> None:
    m, metadata = fcos_machine()
    with m:
        first = m.boot(read_files=[IGNITION_SCRIPT_PATH, f"/etc/systemd/system/{IGNITION_UNIT}",
                                   "/etc/containerd/config.toml"])  # fmt: skip
        second = m.boot()
    steps = {" ".join(s["argv"]): s for s in first.raw["steps"]}
    assert steps["ignition -stage fetch"]["code"] == 0, steps["ignition -stage fetch"]["stdout"][-2000:]
    assert steps["ignition -stage files"]["code"] == 0, steps["ignition -stage files"]["stdout"][-2000:]
    assert ignition_fetches(first), "Ignition did not fetch user-data from the metadata server"
    # Ignition wrote exactly the bootstrap kubegce rendered, and enabled its unit
    config = json.loads(metadata["user-data"])
    assert first.raw["files"][IGNITION_SCRIPT_PATH].startswith("#!/bin/bash")
    assert "KUBEGCE_CHANNEL=ignition" in first.raw["files"][IGNITION_SCRIPT_PATH]
    assert first.raw["files"][f"/etc/systemd/system/{IGNITION_UNIT}"] == config["systemd"]["units"][0]["contents"]
    # ... and asked for SELinux labels on what it wrote, as on Fedora CoreOS
    labeled = first.raw["ignition_relabeled"].splitlines()
    assert labeled[0].startswith("setfiles -vF0 -r ") and labeled[0].endswith(
        "/etc/selinux/targeted/contexts/files/file_contexts -f -"
    )
    assert any(p.endswith("/merged" + IGNITION_SCRIPT_PATH.rsplit("/", 1)[0]) for p in labeled[1:]), labeled
    assert any(p.endswith(f"/merged/etc/systemd/system/{IGNITION_UNIT}") for p in labeled[1:]), labeled
    # the unit ran the bootstrap once, to the end, with binaries in /opt/bin on a read-only /usr
    assert first.invocations == [("ignition", "run")], first.runner_output[-3000:]
    assert first.guest_attributes["phase"] == "joined"
    assert "distro=fedora version=42 package-manager=none" in first.runner_output
    assert any(c.startswith("kubeadm join") for c in first.calls)
    assert first.raw["mounts"]["/usr"].split(",")[0] == "ro"
    config_toml = first.raw["files"]["/etc/containerd/config.toml"]
    assert 'BinaryName = "/opt/bin/runc"' in config_toml
    # CNI plugins where the pod network's DaemonSet also installs its own (/opt is writable here)
    assert 'bin_dirs = ["/opt/cni/bin"]' in config_toml
    # reboot: Ignition does not run again; the enabled unit starts and finds its done marker
    assert not any(s["argv"][0] == "ignition" for s in second.raw["steps"])
    assert not ignition_fetches(second)
    assert second.invocations == [("ignition", "already-done")]
    assert not any(c.startswith("kubeadm") for c in second.calls)


def test_fcos_failure_resumes_on_the_next_boot_through_the_enabled_unit() -> None:
    m, _ = fcos_machine()
    with m:
        first = m.boot(fail_at="install_binaries")
        second = m.boot()
    assert first.guest_attributes["phase"] == "failed"
    assert second.runs == ["ignition"] and second.guest_attributes["phase"] == "joined"
    assert "step=prepare_host already done" in second.runner_output


def test_the_lab_refuses_without_ignition_and_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: os.PathLike[str]) -> None:  # fmt: skip
    monkeypatch.setenv("KUBEGCE_IGNITION", "")
    monkeypatch.chdir(tmp_path)
    import kubegce.lab.run as run

    monkeypatch.setattr(run, "IGNITION_IN_PACKAGE", "no/such/ignition")
    with pytest.raises(UserError, match="apt-get install ignition"):
        run.ignition_binary()
