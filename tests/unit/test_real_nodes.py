"""Issue 20: what real kubeadm, the kubelet and containerd would refuse in what kubegce renders.

Each test here failed against the renderer before its fix (the rule's upstream source is named)."""

from __future__ import annotations

import io
import subprocess
import tarfile

import pytest

from kubegce.boot.render import template
from kubegce.boot.versions import components, pause_image
from kubegce.errors import SpecError
from kubegce.images.catalog import Catalog
from kubegce.service.cluster import check_spec
from kubegce.spec import kops, releases
from kubegce.spec.kubelet_labels import kubelet_refuses
from kubegce.spec.loader import parse_documents
from kubegce.spec.models import Role
from kubegce.spec.validate import bundle_warnings, validate_bundle, version_step_problem
from kubegce.state.pki import ClusterSecrets, role_bundle
from tests.conftest import make_bundle


@pytest.fixture(scope="module")
def cluster_secrets() -> ClusterSecrets:
    return ClusterSecrets.generate()


def _members(bundle: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
        return set(tar.getnames())


def test_a_workers_bundle_holds_no_ca_file_kubeadm_join_would_refuse(cluster_secrets: ClusterSecrets) -> None:
    """kubeadm join's preflight on a node that is not a control plane: FileAvailable on the CA
    path (cmd/kubeadm/app/preflight/checks.go RunJoinNodeChecks, v1.35)."""
    names = _members(role_bundle(cluster_secrets, "node", "demo.example.com", "https://10.0.0.2:443"))
    assert names == {"etc/kubegce/bootstrap.kubeconfig"}
    cp = _members(role_bundle(cluster_secrets, "control-plane", "demo.example.com", "https://10.0.0.2:443"))
    # a control-plane join without a certificate key needs every shared CA and the SA key on disk
    for f in ("ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key",
              "etcd/ca.crt", "etcd/ca.key"):  # fmt: skip
        assert f"etc/kubernetes/pki/{f}" in cp
    assert "etc/kubegce/certificate-key" not in cp and "etc/kubegce/join-token" in cp


@pytest.mark.parametrize(
    ("key", "refused"),
    [
        ("node-role.kubernetes.io/worker", True),
        ("kops.k8s.io/instancegroup", True),
        ("k8s.io/x", True),
        ("node-restriction.kubernetes.io/x", True),
        ("kubernetes.io/role", True),
        ("node.kubernetes.io/pool", False),
        ("x.node.kubernetes.io/pool", False),
        ("kubelet.kubernetes.io/x", False),
        ("node.kubernetes.io/instance-type", False),
        ("topology.kubernetes.io/zone", False),
        ("kubernetes.io/arch", False),
        ("example.com/role", False),
        ("pool", False),
        ("notkubernetes.io/x", False),
    ],
)
def test_kubelet_label_rule(key: str, refused: bool) -> None:
    """cmd/kubelet/app/options/options.go ValidateKubeletFlags and well_known_labels.go IsKubeletLabel."""
    assert kubelet_refuses(key) is refused


def test_node_labels_the_kubelet_refuses_are_refused_by_validation() -> None:
    bundle = make_bundle()
    node = next(g for g in bundle.instance_groups if g.spec.role == Role.NODE)
    node.spec.node_labels = {"node-role.kubernetes.io/worker": "", "node.kubernetes.io/pool": "a"}
    problems = validate_bundle(bundle)
    assert len([p for p in problems if "spec.nodeLabels" in p]) == 1
    assert "node-role.kubernetes.io/worker" in problems[0] and "the kubelet refuses" in problems[0]


def test_kops_import_drops_labels_only_kops_controller_could_set() -> None:
    text = (
        "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata: {name: demo.example.com}\n"
        "spec: {cloudProvider: gce, project: my-proj, kubernetesVersion: 1.35.8}\n---\n"
        "apiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: nodes\n"
        "  labels: {kops.k8s.io/cluster: demo.example.com}\nspec:\n  role: Node\n  zones: [us-central1-a]\n"
        "  nodeLabels: {kops.k8s.io/instancegroup: nodes, pool: general}\n"
    )
    docs, warnings = kops.convert_documents(parse_documents(text, "k.yaml"), "k.yaml")
    group = next(d for d in docs if d["kind"] == "InstanceGroup")
    assert group["spec"]["nodeLabels"] == {"pool": "general"}
    assert any("kops.k8s.io/instancegroup" in w and "kops-controller" in w for w in warnings)


def test_versions_follow_upstreams_supported_minors() -> None:
    assert releases.CHECKED == "2026-12-05"
    assert [m.minor for m in releases.SUPPORTED] == [35, 36, 37]
    assert releases.minor_of(releases.DEFAULT_VERSION) in releases.SUPPORTED
    # containerd 1.x only up to 1.35 (the kubelet of 1.36 drops it); config version 3 with 2.x
    for m in releases.MINORS:
        assert (m.containerd_major == 1) is (m.minor <= 35)
        assert m.containerd_config_version == (3 if m.minor >= 36 else 2)


def test_new_clusters_refuse_an_end_of_life_minor_stored_ones_are_warned() -> None:
    bundle = make_bundle()
    bundle.cluster.spec.kubernetes_version = "1.34.11"
    assert validate_bundle(bundle) == []  # a stored 1.34 cluster may still be planned and rolled
    warning = next(w for w in bundle_warnings(bundle) if "end of life" in w)
    assert "1.35" in warning and "one minor at a time" in warning
    with pytest.raises(SpecError, match="past upstream's end of life"):
        check_spec(bundle, Catalog.load(None), new_cluster=True)
    bundle.cluster.spec.kubernetes_version = "1.32.1"
    assert "1.33, then 1.34, then 1.35" in next(w for w in bundle_warnings(bundle) if "end of life" in w)
    bundle.cluster.spec.kubernetes_version = "1.38.0"  # not released as of CHECKED
    assert any("not a Kubernetes minor kubegce runs" in p for p in validate_bundle(bundle))


@pytest.mark.parametrize("registry", ["registry.example.com", "10.0.0.5:5000/k8s", "mirror.example.com/a/b-c"])
def test_container_registry_accepted(registry: str) -> None:
    bundle = make_bundle()
    bundle.cluster.spec.assets.container_registry = registry
    assert validate_bundle(bundle) == []


@pytest.mark.parametrize("registry", ["https://r.example.com", "R.example.com", "r.example.com\n", 'r"x', "r/${X}",
                                      "r.example.com/", "a" * 201, "r.example.com:5000:1"])  # fmt: skip
def test_container_registry_refused(registry: str) -> None:
    bundle = make_bundle()
    bundle.cluster.spec.assets.container_registry = registry
    problems = validate_bundle(bundle)
    assert len(problems) == 1 and problems[0].startswith("spec.assets.containerRegistry:")


def _containerd_config(version: str, registry: str | None = None) -> str:
    """The config.toml that configure_services writes, from the fragment itself (bash)."""
    parts = components(version, registry)
    fragment = template("lib/binaries.sh")
    env = {"KUBEGCE_CONTAINERD_CONFIG_VERSION": str(parts.containerd_config_version),
           "KUBEGCE_SANDBOX_IMAGE": parts.pause_image, "KUBEGCE_BIN_DIR": "/usr/local/bin",
           "KUBEGCE_CNI_BIN_DIR": "/opt/cni/bin", "PATH": "/usr/bin:/bin"}  # fmt: skip
    res = subprocess.run(["bash", "-c", fragment + "\ncontainerd_config"], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    return res.stdout


@pytest.mark.parametrize("version", [m.latest for m in releases.MINORS])
def test_containerd_gets_the_sandbox_image_kubeadm_expects(version: str) -> None:
    """Left at its default, containerd 1.7's sandbox is pause:3.8 while kubeadm wants its
    PauseVersion (constants.go); with a registry, that registry's copy."""
    import tomllib

    cfg = tomllib.loads(_containerd_config(version))
    want = pause_image(version)
    assert want == f"registry.k8s.io/pause:{releases.for_version(version).pause}"
    if releases.for_version(version).containerd_major >= 2:
        assert cfg["version"] == 3
        assert cfg["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == want
        runc = cfg["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]
        assert cfg["plugins"]["io.containerd.cri.v1.runtime"]["cni"]["bin_dirs"] == ["/opt/cni/bin"]
    else:
        assert cfg["version"] == 2
        assert cfg["plugins"]["io.containerd.grpc.v1.cri"]["sandbox_image"] == want
        runc = cfg["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2" and runc["options"]["SystemdCgroup"] is True
    mirrored = tomllib.loads(_containerd_config(version, "mirror.example.com:5000/k8s"))
    assert f"mirror.example.com:5000/k8s/pause:{releases.for_version(version).pause}" in str(mirrored)


def test_units_carry_what_upstreams_have() -> None:
    """containerd.service upstream: Type=notify (ordering after it waits for its socket),
    Wants=network-online.target, OOMScoreAdjust, TasksMax; kubelet.service waits for containerd."""
    script = template("lib/binaries.sh")
    unit = script[script.index("containerd.service <<EOF") : script.index("kubelet.service <<EOF")]
    for line in ("Type=notify", "Wants=network-online.target", "OOMScoreAdjust=-999", "TasksMax=infinity",
                 "Delegate=yes", "KillMode=process"):  # fmt: skip
        assert f"\n{line}\n" in unit
    kubelet = script[script.index("kubelet.service <<EOF") : script.index("10-kubeadm.conf <<EOF")]
    assert "After=network-online.target containerd.service" in kubelet


@pytest.mark.parametrize(
    ("before", "after", "problem"),
    [
        ("1.35.8", "1.36.4", None),
        ("1.36.4", "1.36.1", None),  # a patch either way, within the minor
        ("1.33.13", "1.34.11", None),  # out of support, one minor at a time back into it
        ("1.33.13", "1.35.8", "set 1.34, then 1.35"),
        ("1.37.0", "1.36.4", "downgrade"),
    ],
)
def test_version_changes_move_one_minor_up(before: str, after: str, problem: str | None) -> None:
    got = version_step_problem(before, after)
    assert (got is None) if problem is None else (got is not None and problem in got)


def test_edit_refuses_a_skipped_minor_and_writes_nothing(state: str) -> None:
    from tests.unit.test_cli import create_demo, run, state_files

    assert create_demo("--kubernetes-version", "1.35.8").returncode == 0
    before = [p.read_bytes() for p in state_files(state)]
    r = run("edit", "cluster", "demo.example.com", "--set", "spec.kubernetesVersion=1.37.0")
    assert r.returncode == 2 and "skips a minor" in r.stderr and "Traceback" not in r.stderr
    assert [p.read_bytes() for p in state_files(state)] == before
    assert run("edit", "cluster", "demo.example.com", "--set", "spec.kubernetesVersion=1.36.4").returncode == 0
