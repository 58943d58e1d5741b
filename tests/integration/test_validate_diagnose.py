"""validate and diagnose instance against the emulator (simulated boots)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator

pytestmark = pytest.mark.integration


def kubegce(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": endpoint}
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


def create_and_apply(endpoint: str, image: str = "rocky-linux-cloud/rocky-linux-9") -> None:
    r = kubegce(endpoint, "create", "cluster", "demo.example.com", "--project", "my-proj", "--zones",
                "us-central1-a,us-central1-b", "--image", image, "--node-count", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr


def apply(endpoint: str, *extra: str) -> None:
    r = kubegce(endpoint, "update", "cluster", "demo.example.com", "--yes", *extra)
    assert r.returncode == 0, r.stderr


def test_validate_waits_until_every_node_joined(state: str) -> None:
    with RunningEmulator(0, FaultConfig(), boot_seconds=2.0) as emu:
        create_and_apply(emu.endpoint)
        apply(emu.endpoint)
        r = kubegce(emu.endpoint, "validate", "cluster", "demo.example.com", "--wait", "60s", "--interval", "0.5",
                    "-o", "json")  # fmt: skip
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        assert report["ok"] and len(report["nodes"]) == 3
        assert {n["phase"] for n in report["nodes"]} == {"joined"}
        assert {n["channel"] for n in report["nodes"]} == {"startup-script"}
        r = kubegce(emu.endpoint, "get", "instances", "demo.example.com", "-o", "json")
        assert r.returncode == 0, r.stderr
        assert {(i["channel"], i["phase"]) for i in json.loads(r.stdout)} == {("startup-script", "joined")}
        assert sorted((g["current"], g["target"]) for g in report["groups"]) == [(1, 1), (1, 1), (1, 1)]


def test_failed_join_is_reported_and_diagnosed(state: str) -> None:
    with RunningEmulator(0, FaultConfig(), boot_seconds=0.5, boot_outcome="fail:kubeadm_join") as emu:
        create_and_apply(emu.endpoint)
        apply(emu.endpoint)
        r = kubegce(emu.endpoint, "validate", "cluster", "demo.example.com", "--wait", "5s", "--interval", "0.5",
                    "-o", "json")  # fmt: skip
        assert r.returncode == 1
        report = json.loads(r.stdout)
        assert {n["phase"] for n in report["nodes"]} == {"failed"}
        assert "kubegce diagnose instance" in r.stderr
        node = report["nodes"][0]
        d = kubegce(emu.endpoint, "diagnose", "instance", node["instance"], "--zone", node["zone"], "--project",
                    "my-proj", "-o", "json")  # fmt: skip
        assert d.returncode == 1, d.stderr
        out = json.loads(d.stdout)
        assert out["cause"] == "join-failed" and out["step"] == "kubeadm_join" and out["evidence"]


def test_user_data_forced_on_rhel_is_diagnosed_as_no_init_channel(state: str) -> None:
    with RunningEmulator(0, FaultConfig(), boot_seconds=0.5) as emu:
        create_and_apply(emu.endpoint, image="rhel-cloud/rhel-9")
        r = kubegce(emu.endpoint, "edit", "instancegroup", "demo.example.com", "nodes", "--set",
                    "spec.bootstrap.channel=user-data")  # fmt: skip
        assert r.returncode == 2 and "has no cloud-init" in r.stderr
        r = kubegce(emu.endpoint, "edit", "instancegroup", "demo.example.com", "nodes", "--set",
                    "spec.bootstrap.channel=user-data", "--force")  # fmt: skip
        assert r.returncode == 0, r.stderr
        apply(emu.endpoint, "--force")
        import time

        time.sleep(1.0)
        r = kubegce(emu.endpoint, "validate", "cluster", "demo.example.com", "-o", "json")
        nodes = [n for n in json.loads(r.stdout)["nodes"] if n["group"] == "nodes"]
        assert nodes and all(n["phase"] == "-" for n in nodes)
        d = kubegce(emu.endpoint, "diagnose", "instance", nodes[0]["instance"], "--zone", nodes[0]["zone"],
                    "--project", "my-proj")  # fmt: skip
        assert d.returncode == 1
        assert "cause: no-init-channel" in d.stdout and "No startup scripts to run." in d.stdout
        assert "spec.bootstrap.channel=auto" in d.stdout


class FakeKubernetes:
    """A tiny Kubernetes API on 127.0.0.1 that answers GET /api/v1/nodes."""

    def __init__(self, ready: dict[str, bool]) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        nodes = ready

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                items = [{"metadata": {"name": n}, "status": {"conditions": [
                    {"type": "Ready", "status": "True" if ok else "False"}]}} for n, ok in nodes.items()]  # fmt: skip
                body = json.dumps({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": items}).encode()
                self.send_response(200 if self.path.startswith("/api/v1/nodes") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kubeconfig(self, path: Path) -> Path:
        import yaml

        port = self.server.server_address[1]
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [{"name": "t", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "t", "user": {"token": "test"}}],
            "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
        }))  # fmt: skip
        return path


def test_validate_reads_node_readiness_from_kubernetes(state: str, tmp_path: Path) -> None:
    pytest.importorskip("kubernetes")
    with RunningEmulator(0, FaultConfig(), boot_seconds=0.3) as emu:
        create_and_apply(emu.endpoint)
        apply(emu.endpoint)
        r = kubegce(emu.endpoint, "validate", "cluster", "demo.example.com", "--wait", "30s", "--interval", "0.3",
                    "-o", "json")  # fmt: skip
        names = sorted(n["instance"] for n in json.loads(r.stdout)["nodes"])
        fake = FakeKubernetes({n: n != names[0] for n in names})
        r = kubegce(emu.endpoint, "validate", "cluster", "demo.example.com", "--kubeconfig",
                    str(fake.kubeconfig(tmp_path / "kc")), "-o", "json")  # fmt: skip
        assert r.returncode == 1, r.stderr
        report = json.loads(r.stdout)
        assert {n["instance"]: n["ready"] for n in report["nodes"]} == {n: n != names[0] for n in names}
        assert all(n["readySource"] == "kubernetes" for n in report["nodes"])
        assert f"{names[0]}" in r.stderr and "not Ready in Kubernetes" in r.stderr
        fake.server.shutdown()
        fake = FakeKubernetes(dict.fromkeys(names, True))
        r = kubegce(emu.endpoint, "validate", "cluster", "demo.example.com", "--kubeconfig",
                    str(fake.kubeconfig(tmp_path / "kc2")))  # fmt: skip
        assert r.returncode == 0, r.stderr
        fake.server.shutdown()


def test_update_places_a_custom_image_by_its_licenses(state: str) -> None:
    with RunningEmulator(0, FaultConfig(), boot_seconds=0.3) as emu:
        lic = "https://compute.googleapis.com/compute/v1/projects/rhel-cloud/global/licenses/rhel-9-server"
        status, _ = emu.server.api.handle("POST", "/compute/v1/projects/my-proj/global/images",
                                          {"name": "golden-rhel-9", "licenses": [lic]})  # fmt: skip
        assert status == 200
        create_and_apply(emu.endpoint, image="my-proj/golden-rhel-9")
        offline = kubegce("", "update", "cluster", "demo.example.com", "--target", "dryrun", "-o", "json")
        assert {b["channel"] for b in json.loads(offline.stdout)["boot"]} == {"both"}  # unknown offline
        r = kubegce(emu.endpoint, "update", "cluster", "demo.example.com", "-o", "json")
        assert r.returncode == 0, r.stderr
        boot = json.loads(r.stdout)["boot"]
        assert {(b["os"], b["channel"]) for b in boot} == {("rhel 9", "startup-script")}


def test_validate_says_how_to_finish_a_bring_your_own_network_cluster(state: str) -> None:
    with RunningEmulator(0, FaultConfig(), boot_seconds=0.5) as emu:
        r = kubegce(emu.endpoint, "create", "cluster", "demo.example.com", "--project", "my-proj", "--zones",
                    "us-central1-a", "--image", "rocky-linux-cloud/rocky-linux-9", "--node-count", "1",
                    "--networking", "none")  # fmt: skip
        assert r.returncode == 0, r.stderr
        apply(emu.endpoint)
        r = kubegce(emu.endpoint, "validate", "cluster", "demo.example.com", "--wait", "30s", "--interval", "0.3")
        assert "networking.plugin is none" in r.stderr and "NotReady" in r.stderr
        assert "100.96.0.0/11" in r.stderr
