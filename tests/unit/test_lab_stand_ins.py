"""The boot lab's strict kubeadm and kubelet stand-ins (lab/templates/*_stand_in.py), run on the
host against a temporary root: each refuses what the real binary refuses, with its message, and
accepts the good case. The rules and their upstream sources are in the stand-ins' docstrings and
docs/boot-lab.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegce.lab.assets import strict_stand_in

VERSION = "1.35.8"  # the stand-ins' own version in most tests
TOOLS = ("ip", "iptables", "mount", "nsenter", "ebtables", "ethtool", "socat", "tc", "touch", "conntrack")
TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
B4 = "kubeadm.k8s.io/v1beta4"
CA_ERROR = "[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]: /etc/kubernetes/pki/ca.crt already exists"


class Node:
    """A temporary root with the stand-ins installed and what a good node has: the host tools on
    PATH, no swap, nothing listening, IP forwarding on, the bootstrap kubeconfig."""

    def __init__(self, root: Path, version: str = VERSION) -> None:
        self.root = root
        self.bin = root / "usr/local/bin"
        self.bin.mkdir(parents=True)
        for tool in TOOLS:
            self.tool(tool)
        for name in ("kubeadm", "kubelet"):
            text = strict_stand_in(name, version).decode().replace("#!/usr/bin/python3", f"#!{sys.executable}", 1)
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.write("/proc/net/tcp", TCP_HEADER)
        self.write("/proc/net/tcp6", TCP_HEADER)
        self.write("/proc/swaps", SWAPS_HEADER)
        self.write("/proc/sys/net/ipv4/ip_forward", "1\n")
        self.write("/etc/kubegce/bootstrap.kubeconfig", "# bootstrap kubeconfig\n")
        self.env = {"PATH": str(self.bin), "KUBEGCE_LAB_ROOT": str(root), "KUBEGCE_LAB_EUID": "0"}

    def tool(self, name: str) -> None:
        (self.bin / name).write_text("#!/bin/sh\nexit 0\n")
        (self.bin / name).chmod(0o755)

    def write(self, path: str, text: str) -> None:
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def exists(self, path: str) -> bool:
        return (self.root / path.lstrip("/")).exists()

    def listen(self, port: int, state: str = "0A") -> None:
        line = f"   0: 00000000:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000     0 0 1\n"
        self.write("/proc/net/tcp", TCP_HEADER + line)

    def run(self, binary: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / binary), *args], capture_output=True, text=True, env=self.env,
                              timeout=30)  # fmt: skip

    def kubeadm(self, command: str, *docs: dict[str, Any], extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:  # fmt: skip
        self.write("/etc/kubegce/kubeadm.yaml", yaml.safe_dump_all(docs))
        return self.run("kubeadm", command, "--config", "/etc/kubegce/kubeadm.yaml", *extra)

    def calls(self) -> list[str]:
        log = self.root / "var/log/kubegce-lab/calls.log"
        return log.read_text().splitlines() if log.exists() else []


def init_docs(api: str = B4, version: str = "v1.35.8", **cluster: Any) -> list[dict[str, Any]]:
    return [
        {"apiVersion": api, "kind": "InitConfiguration", "localAPIEndpoint": {"bindPort": 443},
         "nodeRegistration": {"taints": []}},
        {"apiVersion": api, "kind": "ClusterConfiguration", "kubernetesVersion": version,
         "networking": {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12"},
         "etcd": {"local": {"dataDir": "/var/lib/etcd"}}, **cluster},
        join_doc(api, control_plane=True),
    ]  # fmt: skip


def join_doc(api: str = B4, *, control_plane: bool = False, args: Any = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": api,
        "kind": "JoinConfiguration",
        "nodeRegistration": {"taints": []},
        "discovery": {"file": {"kubeConfigPath": "/etc/kubegce/bootstrap.kubeconfig"}},
    }
    if args is not None:
        doc["nodeRegistration"]["kubeletExtraArgs"] = args
    if control_plane:
        doc["controlPlane"] = {"localAPIEndpoint": {"bindPort": 443}}
    return doc


def labels(value: str) -> list[dict[str, str]]:
    return [{"name": "node-labels", "value": value}]


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def refused(res: subprocess.CompletedProcess[str], message: str) -> None:
    assert res.returncode == 1, res.stderr
    assert message in res.stderr.splitlines() or message in res.stderr, res.stderr


# --- kubeadm init --------------------------------------------------------------------------------


def test_init_accepts_a_good_node_and_leaves_what_kubeadm_leaves(node: Node) -> None:
    res = node.kubeadm("init", *init_docs(), extra=("--skip-token-print",))
    assert res.returncode == 0, res.stderr
    for f in ("/etc/kubernetes/kubelet.conf", "/etc/kubernetes/admin.conf", "/etc/kubernetes/manifests/etcd.yaml",
              "/etc/kubernetes/pki/ca.crt", "/var/lib/kubelet/kubeadm-flags.env"):  # fmt: skip
        assert node.exists(f), f
    assert node.calls()[0].startswith("kubeadm init --config /etc/kubegce/kubeadm.yaml")
    assert node.calls()[1].startswith("kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf")
    # a second init on the same disk is refused, as kubeadm refuses it
    refused(node.kubeadm("init", *init_docs()), "\t[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver"
            ".yaml]: /etc/kubernetes/manifests/kube-apiserver.yaml already exists")  # fmt: skip


@pytest.mark.parametrize("pod", ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"])
def test_init_refuses_an_existing_static_pod_manifest(node: Node, pod: str) -> None:
    node.write(f"/etc/kubernetes/manifests/{pod}.yaml", "kind: Pod\n")
    res = node.kubeadm("init", *init_docs())
    refused(res, f"\t[ERROR FileAvailable--etc-kubernetes-manifests-{pod}.yaml]: "
            f"/etc/kubernetes/manifests/{pod}.yaml already exists")  # fmt: skip
    assert res.stderr.startswith("[preflight] Some fatal errors occurred:")


def test_init_refuses_an_etcd_data_dir_holding_lost_and_found(node: Node) -> None:
    (node.root / "var/lib/etcd/lost+found").mkdir(parents=True)  # a freshly formatted ext4 mount
    refused(node.kubeadm("init", *init_docs()), "\t[ERROR DirAvailable--var-lib-etcd]: /var/lib/etcd is not empty")


def test_init_accepts_an_empty_etcd_data_dir_and_checks_the_configured_one(node: Node) -> None:
    (node.root / "var/lib/etcd").mkdir(parents=True)
    (node.root / "mnt/etcd/kubegce").mkdir(parents=True)
    assert node.kubeadm("init", *init_docs()).returncode == 0
    node2 = Node(node.root / "second")
    (node2.root / "mnt/etcd/kubegce").mkdir(parents=True)
    docs = init_docs(etcd={"local": {"dataDir": "/mnt/etcd"}})
    refused(node2.kubeadm("init", *docs), "\t[ERROR DirAvailable--mnt-etcd]: /mnt/etcd is not empty")


@pytest.mark.parametrize("port", [443, 10259, 10257, 10250, 2379, 2380])
def test_init_refuses_a_port_something_listens_on(node: Node, port: int) -> None:
    node.listen(port)
    refused(node.kubeadm("init", *init_docs()), f"\t[ERROR Port-{port}]: Port {port} is in use")


def test_init_ignores_a_port_nothing_listens_on(node: Node) -> None:
    node.listen(10250, state="01")  # an established connection from that port, not a listener
    assert node.kubeadm("init", *init_docs()).returncode == 0


def test_init_checks_the_default_api_port_without_a_bind_port(node: Node) -> None:
    docs = init_docs()
    del docs[0]["localAPIEndpoint"]
    node.listen(6443)
    refused(node.kubeadm("init", *docs), "\t[ERROR Port-6443]: Port 6443 is in use")


def test_swap_is_refused_until_swapoff_ran(node: Node) -> None:
    node.write("/proc/swaps", SWAPS_HEADER + "/swapfile file 1048572 0 -2\n")
    res = node.kubeadm("init", *init_docs())
    refused(res, "\t[ERROR Swap]: swap is supported for cgroup v2 only. The kubelet must be properly configured to "
            "use swap. Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, or "
            "disable swap on the node")  # fmt: skip
    node.write("/run/kubegce-lab/swapoff", "")  # what the lab's `swapoff -a` leaves
    assert node.kubeadm("init", *init_docs()).returncode == 0


@pytest.mark.parametrize("tool", ["ip", "iptables", "mount", "nsenter"])
def test_a_missing_mandatory_host_tool_is_an_error(node: Node, tool: str) -> None:
    (node.bin / tool).unlink()
    refused(node.kubeadm("init", *init_docs()), f"\t[ERROR FileExisting-{tool}]: {tool} not found in system path")


@pytest.mark.parametrize("tool", ["ebtables", "ethtool", "socat", "tc", "touch"])
def test_a_missing_optional_host_tool_is_a_warning(node: Node, tool: str) -> None:
    (node.bin / tool).unlink()
    res = node.kubeadm("init", *init_docs())
    assert res.returncode == 0, res.stderr
    assert f"\t[WARNING FileExisting-{tool}]: {tool} not found in system path" in res.stderr.splitlines()


def test_conntrack_is_mandatory_below_kubernetes_1_32_only(tmp_path: Path) -> None:
    node = Node(tmp_path, version="1.32.4")
    (node.bin / "conntrack").unlink()
    refused(node.kubeadm("init", *init_docs(version="v1.31.9")),
            "\t[ERROR FileExisting-conntrack]: conntrack not found in system path")  # fmt: skip
    assert node.kubeadm("init", *init_docs(version="v1.32.4")).returncode == 0


def test_init_and_join_refuse_a_user_other_than_root(node: Node) -> None:
    node.env["KUBEGCE_LAB_EUID"] = "1000"
    refused(node.kubeadm("init", *init_docs()), "\t[ERROR IsPrivilegedUser]: user is not running as root")
    refused(node.kubeadm("join", join_doc()), "\t[ERROR IsPrivilegedUser]: user is not running as root")


def test_ip_forwarding_off_is_refused_on_init(node: Node) -> None:
    node.write("/proc/sys/net/ipv4/ip_forward", "0\n")
    refused(node.kubeadm("init", *init_docs()), "\t[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: "
            "/proc/sys/net/ipv4/ip_forward contents are not set to 1")  # fmt: skip


def test_ignore_preflight_errors_makes_an_error_a_warning(node: Node) -> None:
    node.listen(10250)
    res = node.kubeadm("init", *init_docs(), extra=("--ignore-preflight-errors=Port-10250",))
    assert res.returncode == 0, res.stderr
    assert "\t[WARNING Port-10250]: Port 10250 is in use" in res.stderr.splitlines()


@pytest.mark.parametrize(
    ("api", "message"),
    [
        ("kubeadm.k8s.io/v1beta2", 'your configuration file uses an old API spec: "kubeadm.k8s.io/v1beta2" (kind: '
         '"ClusterConfiguration"). Please use kubeadm v1.22 instead'),
        ("kubeadm.k8s.io/v1beta1", 'old API spec: "kubeadm.k8s.io/v1beta1"'),
        ("kubeadm.k8s.io/v1beta9", 'no kind "ClusterConfiguration" is registered for version "kubeadm.k8s.io/v1beta9"'),
    ],
)  # fmt: skip
def test_init_refuses_removed_and_unknown_api_versions(node: Node, api: str, message: str) -> None:
    res = node.kubeadm("init", *init_docs(api=api))
    assert res.returncode == 1 and message in res.stderr, res.stderr


def test_v1beta4_is_refused_by_kubeadm_1_30_and_v1beta3_only_warned_from_1_31(tmp_path: Path) -> None:
    old = Node(tmp_path / "old", version="1.30.14")
    res = old.kubeadm("init", *init_docs(version="v1.30.14"))
    assert res.returncode == 1 and 'experimental API spec: "kubeadm.k8s.io/v1beta4"' in res.stderr, res.stderr
    assert old.kubeadm("init", *init_docs(api="kubeadm.k8s.io/v1beta3", version="v1.30.14")).returncode == 0
    new = Node(tmp_path / "new")
    res = new.kubeadm("init", *init_docs(api="kubeadm.k8s.io/v1beta3"))
    assert res.returncode == 0, res.stderr
    assert 'uses a deprecated API spec: "kubeadm.k8s.io/v1beta3"' in res.stderr


def test_unknown_fields_are_a_warning_not_an_error(node: Node) -> None:
    """initconfiguration.go / joinconfiguration.go decode with strictErrors=false: kubeadm init and
    join log unknown fields and go on (only `kubeadm config validate` refuses them)."""
    doc = join_doc()
    doc["nodeRegistration"]["kubeletExtraAgrs"] = []
    res = node.kubeadm("join", doc)
    assert res.returncode == 0, res.stderr
    assert 'strict decoding error: unknown field "nodeRegistration.kubeletExtraAgrs"' in res.stderr


def test_a_v1beta3_style_extra_args_map_in_v1beta4_is_refused(node: Node) -> None:
    res = node.kubeadm("join", join_doc(args={"node-labels": "a=b"}))
    refused(res, "json: cannot unmarshal object into Go struct field JoinConfiguration.nodeRegistration."
            "kubeletExtraArgs of type []v1beta4.Arg")  # fmt: skip
    assert node.kubeadm("join", join_doc(args=[{"name": "node-labels", "value": "a=b"}])).returncode == 0


def test_documents_of_other_commands_are_skipped(node: Node) -> None:
    docs = [*init_docs(), {"apiVersion": B4, "kind": "UpgradeConfiguration", "apply": {"forceUpgrade": True}}]
    assert node.kubeadm("init", *docs).returncode == 0


def test_a_string_bind_port_is_refused(node: Node) -> None:
    docs = init_docs()
    docs[0]["localAPIEndpoint"]["bindPort"] = "443"
    refused(node.kubeadm("init", *docs), "json: cannot unmarshal string into Go struct field InitConfiguration."
            "localAPIEndpoint.bindPort of type int32")  # fmt: skip


@pytest.mark.parametrize(("version", "ok"), [("v1.33.2", False), ("v1.34.0", True), ("v1.35.8", True)])
def test_kubernetes_version_within_kubeadms_skew(node: Node, version: str, ok: bool) -> None:
    res = node.kubeadm("init", *init_docs(version=version))
    if ok:
        assert res.returncode == 0, res.stderr
    else:
        refused(res, "this version of kubeadm only supports deploying clusters with the control plane version >= "
                f"1.34.0. Current version: {version}")  # fmt: skip


def test_a_kubernetes_version_above_kubeadms_is_a_warning(node: Node) -> None:
    res = node.kubeadm("init", *init_docs(version="v1.36.1"))
    assert res.returncode == 0, res.stderr
    assert "[WARNING KubernetesVersion]: Kubernetes version is greater than kubeadm version" in res.stderr


def test_flags_beside_config_and_a_malformed_certificate_key_are_refused(node: Node) -> None:
    refused(node.kubeadm("join", join_doc(), extra=("--token", "abc")), "can not mix '--config' with arguments [token]")
    docs = init_docs()
    docs[0]["certificateKey"] = "not-hex"
    refused(node.kubeadm("init", *docs), "certificateKey: Invalid value: the certificate key must be a hex encoded "
            "AES key of size 32 bytes")  # fmt: skip


# --- kubeadm join --------------------------------------------------------------------------------


def test_worker_join_accepts_a_good_node_and_writes_the_ca_itself(node: Node) -> None:
    res = node.kubeadm("join", join_doc())
    assert res.returncode == 0, res.stderr
    assert node.exists("/etc/kubernetes/kubelet.conf") and node.exists("/etc/kubernetes/pki/ca.crt")
    assert not node.exists("/etc/kubernetes/bootstrap-kubelet.conf")  # removed after the TLS bootstrap


def test_worker_join_refuses_an_existing_ca_file(node: Node) -> None:
    node.write("/etc/kubernetes/pki/ca.crt", "-----BEGIN CERTIFICATE-----\n")
    refused(node.kubeadm("join", join_doc()), "\t" + CA_ERROR)


def test_control_plane_join_accepts_an_existing_ca_file(node: Node) -> None:
    node.write("/etc/kubernetes/pki/ca.crt", "-----BEGIN CERTIFICATE-----\n")
    docs = [*init_docs()[:2], join_doc(control_plane=True)]
    res = node.kubeadm("join", *docs)
    assert res.returncode == 0, res.stderr
    assert node.exists("/etc/kubernetes/manifests/etcd.yaml")


@pytest.mark.parametrize("conf", ["kubelet.conf", "bootstrap-kubelet.conf"])
def test_join_refuses_an_existing_kubelet_kubeconfig(node: Node, conf: str) -> None:
    node.write(f"/etc/kubernetes/{conf}", "# left over\n")
    refused(node.kubeadm("join", join_doc()), f"\t[ERROR FileAvailable--etc-kubernetes-{conf}]: "
            f"/etc/kubernetes/{conf} already exists")  # fmt: skip


def test_control_plane_join_checks_etcd_data_dir_ports_and_manifests(node: Node) -> None:
    docs = [*init_docs()[:2], join_doc(control_plane=True)]
    (node.root / "var/lib/etcd/lost+found").mkdir(parents=True)
    node.listen(2380)
    node.write("/etc/kubernetes/manifests/kube-scheduler.yaml", "kind: Pod\n")
    res = node.kubeadm("join", *docs)
    for line in ("\t[ERROR DirAvailable--var-lib-etcd]: /var/lib/etcd is not empty",
                 "\t[ERROR Port-2380]: Port 2380 is in use",
                 "\t[ERROR FileAvailable--etc-kubernetes-manifests-kube-scheduler.yaml]: "
                 "/etc/kubernetes/manifests/kube-scheduler.yaml already exists"):  # fmt: skip
        refused(res, line)
    # a worker's join checks none of these
    assert Node(node.root / "w").kubeadm("join", join_doc()).returncode == 0


def test_an_older_kubeadms_join_needs_an_empty_manifests_dir(tmp_path: Path) -> None:
    old, new = Node(tmp_path / "old", version="1.31.14"), Node(tmp_path / "new")
    for node in (old, new):
        node.write("/etc/kubernetes/manifests/extra.yaml", "kind: Pod\n")
    doc = join_doc(api="kubeadm.k8s.io/v1beta4")
    refused(
        old.kubeadm("join", doc),
        "\t[ERROR DirAvailable--etc-kubernetes-manifests]: /etc/kubernetes/manifests is not empty",
    )
    assert new.kubeadm("join", doc).returncode == 0


def test_join_needs_a_discovery_and_a_join_configuration(node: Node) -> None:
    doc = join_doc()
    doc["discovery"] = {}
    refused(node.kubeadm("join", doc), 'discovery: Invalid value: "": bootstrapToken or file must be set')
    refused(node.kubeadm("join", init_docs()[0]), "no JoinConfiguration found in the supplied config")
    (node.root / "etc/kubegce/bootstrap.kubeconfig").unlink()
    refused(node.kubeadm("join", join_doc()), "couldn't validate the identity of the API Server: open "
            "/etc/kubegce/bootstrap.kubeconfig: no such file or directory")  # fmt: skip


def test_join_without_a_config_takes_its_discovery_from_flags(node: Node) -> None:
    res = node.run("kubeadm", "join", "10.0.16.2:443", "--token", "abcdef.0123456789abcdef",
                   "--discovery-token-unsafe-skip-ca-verification")  # fmt: skip
    assert res.returncode == 0, res.stderr
    node2 = Node(node.root / "no-forwarding")
    node2.write("/proc/sys/net/ipv4/ip_forward", "0\n")
    refused(node2.run("kubeadm", "join", "10.0.16.2:443", "--token", "abcdef.0123456789abcdef"),
            "\t[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents are not set to 1")  # fmt: skip
    refused(node.run("kubeadm", "join", "--token", "abcdef.0123456789abcdef"),
            'discovery: Invalid value: "": bootstrapToken or file must be set')  # fmt: skip


def test_other_kubeadm_commands_are_recorded_only(node: Node) -> None:
    res = node.run("kubeadm", "token", "create", "abcdef.0123456789abcdef", "--ttl", "24h")
    assert res.returncode == 0 and node.calls() == ["kubeadm token create abcdef.0123456789abcdef --ttl 24h"]


# --- the kubelet ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["node-role.kubernetes.io/worker=", "app.kubernetes.io/name=web", "k8s.io/x=y", "kubernetes.io/role=a"]
)
def test_the_kubelet_refuses_kubernetes_io_labels_outside_its_set(node: Node, value: str) -> None:
    res = node.run("kubelet", f"--node-labels=example.com/ok=1,{value}")
    key = value.split("=")[0]
    assert res.returncode == 1, res.stderr
    assert f"unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [{key}]" in res.stderr
    assert "must begin with an allowed prefix (kubelet.kubernetes.io, node.kubernetes.io)" in res.stderr


@pytest.mark.parametrize(
    "value", ["node.kubernetes.io/pool=a", "x.kubelet.kubernetes.io/y=b", "kubernetes.io/arch=amd64",
              "topology.kubernetes.io/zone=z", "example.com/role=web", "plain=1"],
)  # fmt: skip
def test_the_kubelet_accepts_its_own_labels_and_other_domains(node: Node, value: str) -> None:
    res = node.run("kubelet", "--node-labels", value)
    assert res.returncode == 0, res.stderr


def test_a_kubelet_label_refused_at_start_fails_the_join(node: Node) -> None:
    res = node.kubeadm("join", join_doc(args=labels("node-role.kubernetes.io/worker=")))
    assert res.returncode == 1
    assert "error execution phase kubelet-start" in res.stderr
    assert "labels specified with --node-labels: [node-role.kubernetes.io/worker]" in res.stderr
    assert not node.exists("/etc/kubernetes/kubelet.conf")


def test_the_kubelet_refuses_invalid_label_keys_and_values(node: Node) -> None:
    assert "invalid node labels: 'a/b/c'" in node.run("kubelet", "--node-labels=a/b/c=1").stderr
    assert "invalid node labels: '-bad'" in node.run("kubelet", "--node-labels=ok=-bad").stderr


@pytest.mark.parametrize(("provider", "ok"), [("external", True), ("", True), ("gce", False), ("aws", False)])
def test_the_kubelet_accepts_only_an_external_cloud_provider(node: Node, provider: str, ok: bool) -> None:
    res = node.run("kubelet", f"--cloud-provider={provider}")
    assert (res.returncode == 0) == ok, res.stderr
    if not ok:
        assert (f'cloud provider "{provider}" was specified, but built-in cloud providers are disabled. Please set '
                "--cloud-provider=external and migrate to an external cloud provider") in res.stderr  # fmt: skip


@pytest.mark.parametrize("flag", ["--container-runtime=remote", "--network-plugin=cni", "--cni-bin-dir=/opt/cni"])
def test_the_kubelet_refuses_removed_flags(node: Node, flag: str) -> None:
    res = node.run("kubelet", flag)
    name = flag.split("=")[0]
    assert res.returncode == 1 and f"failed to parse kubelet flag: unknown flag: {name}" in res.stderr, res.stderr


def test_the_kubelet_refuses_swap_unless_fail_swap_on_is_off(node: Node) -> None:
    node.write("/proc/swaps", SWAPS_HEADER + "/swapfile file 1048572 0 -2\n")
    assert "running with swap on is not supported" in node.run("kubelet").stderr
    assert node.run("kubelet", "--fail-swap-on=false").returncode == 0
    node.write("/var/lib/kubelet/config.yaml", "kind: KubeletConfiguration\nfailSwapOn: false\n")
    assert node.run("kubelet", "--config=/var/lib/kubelet/config.yaml").returncode == 0


def test_the_kubelet_needs_its_config_and_a_bootstrap_kubeconfig(node: Node) -> None:
    res = node.run("kubelet", "--config=/var/lib/kubelet/config.yaml")
    assert (
        res.returncode == 1 and "failed to load kubelet config file, path: /var/lib/kubelet/config.yaml" in res.stderr
    )
    res = node.run("kubelet", "--kubeconfig=/etc/kubernetes/kubelet.conf",
                   "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf")  # fmt: skip
    assert res.returncode == 1 and "unable to load bootstrap kubeconfig" in res.stderr
    node.write("/etc/kubernetes/bootstrap-kubelet.conf", "#\n")
    assert node.run("kubelet", "--kubeconfig=/etc/kubernetes/kubelet.conf",
                    "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf").returncode == 0  # fmt: skip
    assert node.exists("/etc/kubernetes/kubelet.conf")


def test_kubeadm_starts_the_kubelet_with_the_bootstraps_drop_in(node: Node) -> None:
    """The command line is the drop-in's ExecStart with its Environment= and EnvironmentFile=
    (what lib/binaries.sh writes), so a flag the unit passes is checked too."""
    node.write("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", (
        "[Service]\n"
        'Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf '
        '--kubeconfig=/etc/kubernetes/kubelet.conf"\n'
        'Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml --cloud-provider=gce"\n'
        "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n"
        "ExecStart=\n"
        "ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS\n"
    ))  # fmt: skip
    res = node.kubeadm("join", join_doc(args=labels("example.com/a=b")))
    assert res.returncode == 1 and 'cloud provider "gce" was specified' in res.stderr, res.stderr
    assert node.calls()[-1] == ("kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf "
                                "--kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml "
                                "--cloud-provider=gce --node-labels=example.com/a=b")  # fmt: skip


# --- what kubegce renders ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["NODE", "CONTROL_PLANE"])
def test_kubegces_rendered_config_passes_on_a_fresh_node(node: Node, role: str) -> None:
    from kubegce.boot.kubeadm import render_kubeadm_config
    from kubegce.spec.models import Role
    from tests.conftest import make_bundle

    bundle = make_bundle()
    group = next(g for g in bundle.instance_groups if g.spec.role == Role[role])
    version = bundle.cluster.spec.kubernetes_version
    fresh = Node(node.root / "fresh", version=version.lstrip("v"))
    fresh.write("/etc/kubegce/kubeadm.yaml", render_kubeadm_config(bundle, group, "10.0.16.2"))
    command = "init" if role == "CONTROL_PLANE" else "join"
    res = fresh.run("kubeadm", command, "--config", "/etc/kubegce/kubeadm.yaml")
    assert res.returncode == 0, res.stderr
    assert "unknown field" not in res.stderr, res.stderr


def test_the_lab_fills_in_the_version(tmp_path: Path) -> None:
    script = strict_stand_in("kubeadm", "v1.34.11").decode()
    assert 'KUBEADM_VERSION = "1.34.11"' in script and "@KUBERNETES_VERSION@" not in script
    node = Node(tmp_path, version="1.34.11")
    assert node.run("kubeadm", "version", "-o", "short").stdout.strip() == "v1.34.11"
    assert os.access(node.bin / "kubelet", os.X_OK)
