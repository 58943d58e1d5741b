"""The bootstrap's fragments, its protocol with kubegce (phases, steps, guest attributes, the serial
line), how it writes secrets, and the catalog values that reach it."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from kubegce.boot import protocol
from kubegce.boot.render import bootstrap_fragments, bootstrap_template, render_node_config, template
from kubegce.errors import UserError
from kubegce.images.catalog import Catalog, package_managers
from tests.conftest import make_bundle

LIB = Path(__file__).parents[2] / "src/kubegce/boot/templates/lib"


def test_bootstrap_sh_includes_every_fragment_once() -> None:
    assert sorted(bootstrap_fragments()) == sorted(f"lib/{p.name}" for p in LIB.glob("*.sh"))
    assert len(set(bootstrap_fragments())) == len(bootstrap_fragments())
    text = bootstrap_template()
    assert "@@KUBEGCE_INCLUDE" not in text and "@@KUBEGCE_PROTOCOL" not in text
    assert text.count("# shellcheck shell=bash") == 0  # fragment headers stay out of the script


@pytest.mark.parametrize("fragment", sorted(p.name for p in LIB.glob("*.sh")))
def test_each_fragment_is_shellcheck_clean_on_its_own(shellcheck: str, fragment: str) -> None:
    res = subprocess.run([shellcheck, "-S", "style", str(LIB / fragment)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout
    assert template(f"lib/{fragment}").startswith("# shellcheck shell=bash\n")


# ---------------------------------------------------------------- protocol, both directions
def _script() -> str:
    return bootstrap_template()


def test_the_script_reports_exactly_the_protocol_phases() -> None:
    script = _script()
    reported = set(re.findall(r"\breport_phase (\w+)", script))
    assert reported == set(protocol.REPORTED_PHASES)
    assert "phase=$phase" in script and f"phase={protocol.DONE} " in script
    assert reported | {protocol.DONE} == set(protocol.PHASES)


def test_the_script_runs_exactly_the_protocol_steps() -> None:
    script = _script()
    stepped = re.findall(r"^\s*step (\w+)$", script, re.M)
    named = set(re.findall(r"CURRENT_STEP=\"?(\w+)\"?$", script, re.M)) - {"name"}
    assert set(stepped) | named == set(protocol.STEPS) | set(protocol.PSEUDO_STEPS)
    # in the protocol's order
    order = [s for s in protocol.STEPS if s in stepped or s in named]
    positions = [script.index(f"step {s}\n") if s in stepped else script.index(f"CURRENT_STEP={s}") for s in order]
    assert positions == sorted(positions)
    for phase, before in protocol.STEP_BEFORE_PHASE.items():
        assert script.index(f"step {before}\n") < script.index(f"report_phase {phase}\n")


def test_the_script_writes_only_protocol_guest_attributes() -> None:
    script = _script()
    calls = re.findall(r"put_guest_attribute (\S+)", script)
    assert calls and all(c.startswith('"$KUBEGCE_ATTR_') for c in calls), calls
    used = {c.strip('"$').removeprefix("KUBEGCE_ATTR_").lower() for c in calls}
    assert used == set(protocol.ATTRIBUTE_KEYS)
    for key in protocol.ATTRIBUTE_KEYS:
        assert f"KUBEGCE_ATTR_{key.upper()}={key}" in script
    assert f"KUBEGCE_ATTRIBUTE_NAMESPACE={protocol.ATTRIBUTE_NAMESPACE}" in script
    assert "kubegce-boot:" not in script.replace(protocol.shell_constants(), "")  # the prefix is rendered in


def _bash(fragment_code: str, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run code after the protocol constants and lib/common.sh, with curl stubbed by a logger."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "curl").write_text('#!/bin/bash\nprintf \'%s\\n\' "$*" >>"$CURL_LOG"\n')
    (fake / "curl").chmod(0o755)
    common = re.sub(r"\A(# shellcheck[^\n]*\n)+", "", template("lib/common.sh"))
    common = common.replace('KUBEGCE_STATE_DIR="/var/lib/kubegce"', f'KUBEGCE_STATE_DIR="{tmp_path}/state"')
    common = common.replace('KUBEGCE_LAB_ENV="/etc/kubegce/lab.env"', f'KUBEGCE_LAB_ENV="{tmp_path}/none"')
    code = "\n".join(["set -o errexit -o nounset -o pipefail -o errtrace", "umask 022", "KUBEGCE_CONFIG_SHA256=abc",
                      "KUBEGCE_CONFIG_SOURCE=metadata:x", protocol.shell_constants(), common, fragment_code])  # fmt: skip
    full_env = {"PATH": f"{fake}:{os.environ['PATH']}", "CURL_LOG": str(tmp_path / "curl.log"), **(env or {})}
    return subprocess.run(["bash", "-c", code], capture_output=True, text=True, env=full_env)


def test_the_serial_lines_the_script_prints_parse_with_the_protocol_parser(tmp_path: Path) -> None:
    res = _bash(
        "elapsed() { echo 0; }\n"  # a second boundary during the test must not change the lines
        'mkdir -p "$RUN_DIR"\nreport_phase started\nCURRENT_STEP=install_binaries\n'
        'report_phase failed "exit 7 at line 3: curl x"\nreport_phase joined\n',
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    lines = [protocol.parse_phase_line(ln) for ln in res.stdout.splitlines()]
    assert lines == [
        protocol.PhaseLine("started", 0),
        protocol.PhaseLine("failed", 0, "install_binaries", "exit 7 at line 3: curl x"),
        protocol.PhaseLine("joined", 0),
    ]
    # the emulator's lines are the script's lines
    assert res.stdout.splitlines()[0] == protocol.phase_line(protocol.STARTED, 0)
    assert res.stdout.splitlines()[1] == protocol.phase_line(
        protocol.FAILED, 0, step="install_binaries", error="exit 7 at line 3: curl x"
    )
    puts = (tmp_path / "curl.log").read_text()
    for key in (protocol.ATTR_PHASE, protocol.ATTR_ERROR):
        assert f"/instance/guest-attributes/{protocol.attribute_path(key)}" in puts


def test_parse_phase_line_reads_console_prefixes_and_refuses_other_lines() -> None:
    line = "Nov 26 01:00:00 n1 google_metadata_script_runner[7]: startup-script: " + protocol.phase_line(
        protocol.FAILED, 12, step="kubeadm_join", error="exit 1"
    )
    assert protocol.parse_phase_line(line) == protocol.PhaseLine("failed", 12, "kubeadm_join", "exit 1")
    assert protocol.parse_phase_line("kubegce-boot: step=prepare_host") is None
    assert protocol.is_done_line(protocol.done_line(3, "abc")) and protocol.is_done_line(
        protocol.already_done_line("x")
    )


# ---------------------------------------------------------------- secrets are 0600 from the first byte
FAKE_SLOW_CURL = """#!/bin/bash
# writes half the file, records its mode while the download is in progress, then ends as asked
out=""
while (($#)); do if [[ $1 == -o ]]; then out=$2; shift; fi; shift; done
printf 'CA KEY' >"$out"
stat -c %a "$out" >"$MODE_LOG"
ls -l "$(dirname "$out")" >>"$MODE_LOG"
exit "$CURL_EXIT"
"""


def _user_flags() -> list[list[str]]:
    users: list[list[str]] = [[]]
    if os.geteuid() == 0 and shutil.which("setpriv"):
        users.append(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    return users


@pytest.mark.parametrize("as_user", _user_flags(), ids=lambda u: "nobody" if u else "me")
@pytest.mark.parametrize("curl_exit", [0, 22])
def test_the_secrets_download_is_never_readable_by_others(tmp_path: Path, as_user: list[str], curl_exit: int) -> None:
    if as_user:  # a directory the other user can reach (pytest's are private)
        tmp_path = Path(tempfile.mkdtemp(prefix="kubegce-secrets-test-"))
        tmp_path.chmod(0o777)
    try:
        _download_secrets(tmp_path, as_user, curl_exit)
    finally:
        if as_user:
            shutil.rmtree(tmp_path, ignore_errors=True)


def _download_secrets(tmp_path: Path, as_user: list[str], curl_exit: int) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(FAKE_SLOW_CURL)
    (bin_dir / "curl").chmod(0o755)
    dest = tmp_path / "etc"
    dest.mkdir(mode=0o777)
    dest.chmod(0o777)
    common = re.sub(r"\A(# shellcheck[^\n]*\n)+", "", template("lib/common.sh"))
    fn = re.search(r"^download_private\(\) \{.*?^\}", common, re.M | re.S)
    assert fn is not None
    code = f"set -o errexit -o nounset -o pipefail\numask 022\n{fn.group(0)}\ndownload_private {dest}/secrets.tar --fail URL"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "MODE_LOG": str(tmp_path / "mode.log"),
           "CURL_EXIT": str(curl_exit)}  # fmt: skip
    (tmp_path / "mode.log").touch()
    (tmp_path / "mode.log").chmod(0o666)
    res = subprocess.run([*as_user, "bash", "-c", code], capture_output=True, text=True, env=env)
    log = (tmp_path / "mode.log").read_text()
    assert log.splitlines()[0] == "600", log  # while curl was writing
    assert not any(".partial." in p.name for p in dest.iterdir()), list(dest.iterdir())
    if curl_exit:
        assert res.returncode != 0 and not (dest / "secrets.tar").exists()
    else:
        assert res.returncode == 0, res.stderr
        assert stat.S_IMODE((dest / "secrets.tar").stat().st_mode) == 0o600


def test_the_bootstrap_downloads_and_writes_secrets_only_privately() -> None:
    script = _script()
    assert "-o /etc/kubegce/secrets.tar" not in script
    assert "download_private /etc/kubegce/secrets.tar" in script
    assert re.search(r"\(umask 077 && tar -C / -xf /etc/kubegce/secrets.tar\)", script)
    assert "(umask 077 && printf '%s\\n' \"$rendered\" >/etc/kubegce/kubeadm.yaml.partial)" in script


# ---------------------------------------------------------------- catalog values reaching the node
def _user_catalog(tmp_path: Path, **fields: object) -> Path:
    entry = {"project": "my-proj", "os": "debian", "version": "12", "families": ["golden"], "image_prefixes": ["golden-"],
             "licenses": [], "cloud_init": False, "guest_agent": True, "ignition": False, "package_manager": "apt",
             "read_only_root": False, **fields}  # fmt: skip
    import yaml

    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"entries": [entry]}))
    return path


@pytest.mark.parametrize(
    "field,value",
    [
        ("cni_bin_dir", "/opt/x@;e"),
        ("cni_bin_dir", "/opt/cni/bin\nrm -rf /"),
        ("cni_bin_dir", "relative/dir"),
        ("cni_bin_dir", "/opt/../etc"),
        ("cni_bin_dir", "/opt/$(reboot)"),
        ("cni_bin_dir", "/opt/a&b\\1"),
        ("bin_dir", "/usr/local/bin' ; reboot ; '"),
        ("bin_dir", 5),
    ],
)
def test_a_hostile_user_catalog_is_refused_when_it_loads(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(UserError, match=f"entry 1: {field} must be an absolute path"):
        Catalog.load(_user_catalog(tmp_path, **{field: value}))


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"package_manager": "pacman"}, "package_manager must be one of"),
        ({"surprise": 1}, "unknown field"),
        ({"families": "golden"}, "families must be a list"),
    ],
)
def test_a_malformed_user_catalog_gets_a_message(tmp_path: Path, fields: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message):
        Catalog.load(_user_catalog(tmp_path, **fields))


def test_a_broken_user_catalog_file_gets_a_message(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("entries: [\n")
    with pytest.raises(UserError, match="cannot be read as YAML"):
        Catalog.load(path)
    path.write_text("- 1\n")
    with pytest.raises(UserError, match="entries"):
        Catalog.load(path)


def test_a_valid_user_catalog_entry_with_its_own_cni_dir_loads(tmp_path: Path) -> None:
    catalog = Catalog.load(_user_catalog(tmp_path, cni_bin_dir="/var/lib/my_cni-1.0/bin"))
    profile = catalog.resolve("my-proj/golden").profile
    assert profile is not None and profile.cni_bin_dir == "/var/lib/my_cni-1.0/bin"


def test_sed_replacement_keeps_any_value_literal(tmp_path: Path) -> None:
    common = template("lib/common.sh")
    fn = re.search(r"^sed_replacement\(\) \{.*?^\}", common, re.M | re.S)
    assert fn is not None
    for value in ("/opt/cni/bin", "/a&b", "/x\\1y", "/p@q;e", "/\\&@"):
        code = (f'{fn.group(0)}\nr=$(sed_replacement "$V")\n'
                'printf "    path: /opt/cni/bin\\n" | sed -E "s@^([[:space:]]*path:[[:space:]]*)/opt/cni/bin/?[[:space:]]*\\$@\\1$r@"')  # fmt: skip
        res = subprocess.run(
            ["bash", "-c", code], capture_output=True, text=True, env={"V": value, "PATH": os.environ["PATH"]}
        )
        assert res.returncode == 0 and res.stdout == f"    path: {value}\n", (value, res.stdout, res.stderr)


# ---------------------------------------------------------------- package manager from the catalog
def _config(image: str) -> str:
    from kubegce.boot.channel import decide_channel
    from kubegce.spec.models import BootstrapSpec

    bundle = make_bundle()
    group = bundle.instance_groups[-1]
    resolved = Catalog.load().resolve(image) if "/" in image else None
    profile = resolved.profile if resolved else None
    plan = decide_channel(resolved, BootstrapSpec(), where="test", force=True) if resolved else None
    assert plan is not None
    return render_node_config(bundle, group, plan, profile, api_endpoint="api.example.com").text


def test_the_node_config_carries_the_catalogs_package_manager_and_packages() -> None:
    text = _config("rocky-linux-cloud/rocky-linux-9")
    dnf = package_managers()["dnf"]
    assert "KUBEGCE_PACKAGE_MANAGER=dnf\n" in text
    assert f"KUBEGCE_HOST_PACKAGES=({' '.join(dnf.host_packages)})\n" in text
    assert "KUBEGCE_PACKAGES_APT" not in text
    assert "KUBEGCE_PACKAGE_MANAGER=none\n" in _config("cos-cloud/cos-stable")


def test_an_image_the_catalog_does_not_know_lets_the_node_decide_with_every_package_list() -> None:
    text = _config("my-project/golden-unknown")
    assert "KUBEGCE_PACKAGE_MANAGER=''\n" in text and "KUBEGCE_HOST_PACKAGES=()\n" in text
    for pm in package_managers().values():
        if pm.host_packages:
            assert f"KUBEGCE_PACKAGES_{pm.name.upper()}=(" in text
