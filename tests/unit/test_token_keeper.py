"""The control planes' join-token keeper (lib/token.sh, issue 25 item 3): nodes can join on any day.

The keeper's shell runs for real against stand-ins of kubeadm and kubectl that keep bootstrap
tokens the way the API server and kube-controller-manager do: a token is a
``kube-system/bootstrap-token-<id>`` Secret with an RFC 3339 ``expiration``; the token cleaner
deletes a Secret past its expiration (pkg/controller/bootstrap/tokencleaner.go, v1.35) and the
bootstrap authenticator refuses an expired token (plugin/pkg/auth/authenticator/token/bootstrap/
bootstrap.go, v1.35). Time is a fake clock (``date`` in PATH answers it), so days pass at once.
What this does not prove: that the real kubectl's merge patch of ``stringData.expiration`` is
what the real API server stores (it is: stringData is merged into data on write, core/v1 types.go),
which only scripts/check-gcp.sh on a real project runs.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from kubegce.boot import protocol
from kubegce.boot.render import template
from kubegce.state.pki import ClusterSecrets, new_token, role_bundle

FAKE_DATE = r"""#!/bin/bash
# `date` on a fake clock (seconds in $FAKE_CLOCK): `+%s` answers it; anything else is the real date.
now=$(<"$FAKE_CLOCK")
if [[ "$*" == "-u +%s" || "$*" == "+%s" ]]; then echo "$now"; exit 0; fi
exec /bin/date "$@"
"""

FAKE_TOOLS = r"""#!/usr/bin/env python3
# Stand-in of kubeadm (token create) and kubectl (get/patch secret) over a JSON file of tokens.
import datetime as dt, json, os, re, sys
db_path, now = os.environ["FAKE_TOKENS"], int(open(os.environ["FAKE_CLOCK"]).read())
db = json.load(open(db_path)) if os.path.exists(db_path) else {}
def expires(t): return dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
db = {k: v for k, v in db.items() if expires(v["expiration"]) > now}   # the token cleaner
def save(): json.dump(db, open(db_path, "w"))
args, tool = sys.argv[1:], os.path.basename(sys.argv[0])
log = open(os.environ["FAKE_LOG"], "a"); log.write(tool + " " + " ".join(a if not re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", a) else "TOKEN" for a in args) + "\n")
if tool == "kubeadm" and args[:2] == ["token", "create"]:
    token = args[2]; assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token)
    ttl = args[args.index("--ttl") + 1]; assert ttl.endswith("s")
    tid, secret = token.split(".")
    if tid in db: print(f'bootstrap-token-{tid} already exists', file=sys.stderr); sys.exit(1)
    db[tid] = {"secret": secret, "expiration": dt.datetime.fromtimestamp(now + int(ttl[:-1]), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "description": args[args.index("--description") + 1]}
    save(); print(token); sys.exit(0)
if tool == "kubectl":
    name = next(a for a in args if a.startswith("bootstrap-token-")); tid = name.removeprefix("bootstrap-token-")
    if "get" in args:
        if tid not in db: print(f'Error from server (NotFound): secrets "{name}" not found', file=sys.stderr); sys.exit(1)
        print(f"secret/{name}"); save(); sys.exit(0)
    if "patch" in args:
        if tid not in db: sys.exit(1)
        patch = json.loads(args[args.index("-p") + 1]); db[tid]["expiration"] = patch["stringData"]["expiration"]
        expires(db[tid]["expiration"]); save(); print(f"secret/{name} patched"); sys.exit(0)
sys.exit(2)
"""

DAY = 86400


class Node:
    """A control plane's keeper, the state store's bundle (a file:// URL) and the cluster's tokens."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        for name, text in (("date", FAKE_DATE), ("kubeadm", FAKE_TOOLS), ("kubectl", FAKE_TOOLS)):
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        (tmp / "etc").mkdir(mode=0o700)
        (tmp / "units").mkdir()
        meta = tmp / "metadata/instance/service-accounts/default"
        meta.mkdir(parents=True)
        (meta / "token").write_text('{"access_token": "ya29.test", "expires_in": 3599}')
        self.clock = tmp / "clock"
        self.now = 1_800_000_000
        self.secrets = ClusterSecrets.generate()
        self.publish()

    @property
    def now(self) -> int:
        return int(self.clock.read_text())

    @now.setter
    def now(self, value: int) -> None:
        self.clock.write_text(str(value))

    def publish(self, token: dict[str, str] | None = None) -> None:
        if token is not None:
            self.secrets.token = token
        (self.tmp / "bundle.tar").write_bytes(
            role_bundle(self.secrets, "control-plane", "c.example.com", "https://api:6443")
        )

    def run(self, code: str, *, store: bool = True) -> subprocess.CompletedProcess[str]:
        common = re.sub(r"\A(# shellcheck[^\n]*\n)+", "", template("lib/common.sh"))
        common = common.replace('KUBEGCE_STATE_DIR="/var/lib/kubegce"', f'KUBEGCE_STATE_DIR="{self.tmp}/state"')
        common = common.replace('KUBEGCE_LAB_ENV="/etc/kubegce/lab.env"', f'KUBEGCE_LAB_ENV="{self.tmp}/none"')
        common = common.replace(
            'KUBEGCE_METADATA_URL="http://metadata.google.internal/computeMetadata/v1"',
            f'KUBEGCE_METADATA_URL="file://{self.tmp}/metadata"',
        )
        token_sh = template("lib/token.sh")
        for old, new in (("KEEPER=/etc/kubegce/keep-join-token.sh", f"KEEPER={self.tmp}/etc/keep-join-token.sh"),
                         ("FILE=/etc/kubegce/join-token", f"FILE={self.tmp}/etc/join-token"),
                         ("KUBECONFIG=/etc/kubernetes/admin.conf", f"KUBECONFIG={self.tmp}/etc/admin.conf"),
                         (">/etc/systemd/system", f">{self.tmp}/units")):  # fmt: skip
            assert old in token_sh
            token_sh = token_sh.replace(old, new)
        url = f"file://{self.tmp}/bundle.tar" if store else f"file://{self.tmp}/gone.tar"
        script = "\n".join([
            "set -o errexit -o nounset -o pipefail -o errtrace", "KUBEGCE_CONFIG_SHA256=abc",
            "KUBEGCE_CONFIG_SOURCE=metadata:x", protocol.shell_constants(), common,
            f"KUBEGCE_SECRETS_URL={url}", f"KUBEGCE_BIN_DIR={self.bin}", "KUBEGCE_ROLE=control-plane",
            token_sh, code,
        ])  # fmt: skip
        env = {"PATH": f"{self.bin}:{os.environ['PATH']}", "FAKE_CLOCK": str(self.clock),
               "FAKE_TOKENS": str(self.tmp / "tokens.json"), "FAKE_LOG": str(self.tmp / "calls.log")}  # fmt: skip
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60)

    def keep(self, *, store: bool = True) -> subprocess.CompletedProcess[str]:
        res = self.run("keep_join_token", store=store)
        assert res.returncode == 0, res.stderr
        return res

    def can_join(self, token: str) -> bool:
        """What the API server's bootstrap authenticator answers a joining node at the fake time."""
        import datetime as dt

        tokens = json.loads((self.tmp / "tokens.json").read_text())
        tid, secret = token.split(".")
        entry = tokens.get(tid)
        if entry is None or entry["secret"] != secret:
            return False
        expires = dt.datetime.strptime(entry["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        return expires.timestamp() > self.now


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def test_without_renewal_a_node_made_a_day_later_cannot_join(node: Node) -> None:
    node.keep()  # kubeadm init's run: the token is created with its lifetime
    token = node.secrets.token["token"]
    assert node.can_join(token)
    node.now += DAY + 60  # a MIG repair a day later, nothing renewed it: what kubegce did before
    assert not node.can_join(token)


def test_renewed_by_the_timer_a_node_recreated_three_days_later_joins(node: Node) -> None:
    node.keep()
    token = node.secrets.token["token"]
    for _ in range(3 * 24 // 4):  # the timer runs every 5 minutes; here every 4 hours is enough to show it
        node.now += 4 * 3600
        res = node.keep()
        assert "renewed until" in res.stdout
    assert node.can_join(token)  # a node a MIG recreates on day three joins
    assert token not in (node.tmp / "calls.log").read_text() + res.stdout + res.stderr  # never printed


def test_a_rotated_token_is_created_and_the_old_one_left_to_expire(node: Node) -> None:
    node.keep()
    old = node.secrets.token["token"]
    node.publish(new_token())  # `kubegce rotate token` (or update --yes near expiry) writes a new one
    new = node.secrets.token["token"]
    node.now += 600
    res = node.keep()
    assert "created in the cluster" in res.stdout
    assert node.can_join(new) and node.can_join(old)  # a node that fetched the old bundle still joins
    assert (node.tmp / "etc/join-token").read_text() == new
    for _ in range(7):
        node.now += 4 * 3600
        node.keep()
    assert node.can_join(new) and not node.can_join(old)  # the old one is no longer renewed


def test_the_token_lifetime_asked_for_is_kept_with_a_floor_of_15_minutes(node: Node) -> None:
    import datetime as dt

    node.publish(new_token(dt.timedelta(hours=2)))
    node.keep()
    node.now += 3600
    node.keep()
    node.now += 2 * 3600 - 60
    assert node.can_join(node.secrets.token["token"])  # renewed to now + 2 h
    node.now += 120
    assert not node.can_join(node.secrets.token["token"])
    node.publish(new_token(dt.timedelta(minutes=1)))
    node.keep()
    node.now += 5 * 60 + 30  # the timer's period (and its random delay): still valid
    assert node.can_join(node.secrets.token["token"])


def test_a_cluster_down_longer_than_the_lifetime_gets_its_token_back(node: Node) -> None:
    node.keep()
    node.now += 3 * DAY  # every control plane stopped; the token cleaner removed the token
    assert not node.can_join(node.secrets.token["token"])
    res = node.keep()  # the first control plane back: its timer runs
    assert "created in the cluster" in res.stdout and node.can_join(node.secrets.token["token"])


def test_an_unreadable_store_keeps_renewing_the_token_on_the_node(node: Node) -> None:
    node.keep()
    node.now += 20 * 3600
    res = node.keep(store=False)
    assert "could not be read" in res.stdout and "renewed until" in res.stdout
    node.now += 20 * 3600
    assert node.can_join(node.secrets.token["token"])


def test_a_damaged_token_file_creates_nothing(node: Node) -> None:
    bundle = io.BytesIO()
    with tarfile.open(fileobj=bundle, mode="w") as tar:
        for name, data in (
            ("etc/kubegce/join-token", b"abc.def$(touch /tmp/x)\n"),
            ("etc/kubegce/join-token-ttl", b"1"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (node.tmp / "bundle.tar").write_bytes(bundle.getvalue())
    res = node.run("keep_join_token")
    assert res.returncode == 1 and "is not a kubeadm token" in res.stderr
    assert not (node.tmp / "tokens.json").exists()
    assert "$(touch" not in res.stderr


def test_the_token_file_is_0600_from_the_start(node: Node) -> None:
    node.keep()
    for name in ("join-token", "join-token-ttl"):
        assert (node.tmp / "etc" / name).stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (node.tmp / "etc").iterdir()) == ["join-token", "join-token-ttl"]  # no temp left


def test_the_installed_keeper_script_runs_on_its_own_and_its_units_verify(node: Node) -> None:
    stub = node.bin / "systemctl"
    stub.write_text('#!/bin/bash\necho "systemctl $*" >>"$FAKE_LOG"\n')
    stub.chmod(0o755)
    res = node.run("install_token_keeper")
    assert res.returncode == 0, res.stderr
    script = node.tmp / "etc/keep-join-token.sh"
    assert script.stat().st_mode & 0o777 == 0o700
    assert node.secrets.token["token"] not in script.read_text()  # settings and functions, no secret
    assert "systemctl enable --now kubegce-join-token.timer" in (node.tmp / "calls.log").read_text()
    env = {"PATH": f"{node.bin}:{os.environ['PATH']}", "FAKE_CLOCK": str(node.clock),
           "FAKE_TOKENS": str(node.tmp / "tokens.json"), "FAKE_LOG": str(node.tmp / "calls.log")}  # fmt: skip
    for _ in range(2):
        run = subprocess.run([str(script)], capture_output=True, text=True, env=env, timeout=60)
        assert run.returncode == 0, run.stderr
        node.now += 3600
    assert node.can_join(node.secrets.token["token"])
    units = node.tmp / "units"
    assert {p.name for p in units.iterdir()} == {"kubegce-join-token.service", "kubegce-join-token.timer"}
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    verify = subprocess.run([analyze, "verify", "--man=no", *(str(p) for p in sorted(units.iterdir()))],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    ours = [line for line in verify.stderr.splitlines() if "kubegce-join-token" in line]
    assert verify.returncode == 0 and not ours, verify.stderr
