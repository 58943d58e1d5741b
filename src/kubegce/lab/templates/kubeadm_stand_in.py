#!/usr/bin/python3
"""Boot-lab stand-in for kubeadm: the checks real kubeadm makes before it touches a cluster.

The lab's assets mirror serves this file as the kubeadm binary of Kubernetes @KUBERNETES_VERSION@
(with a real sha256 file), so the bootstrap downloads, verifies and installs it. It records its
call in /var/log/kubegce-lab/calls.log, then, for `init` and `join`, makes the checks below and
exits 1 with kubeadm's own message where kubeadm would refuse. What it cannot check without a
cluster is listed in docs/boot-lab.md ("Strict kubeadm and kubelet stand-ins").

Every rule is written from kubernetes/kubernetes source (read through the project's search tool;
no code copied), cited where it is used:

- checks.go = cmd/kubeadm/app/preflight/checks.go at commit 00b6a4c7 (v1.32-era: addExecChecks
  drops conntrack from 1.32), checks_linux.go at 039c72e8, checks_unix.go;
- common.go = cmd/kubeadm/app/util/config/common.go (validateSupportedVersion as of v1.31, where
  v1beta4 is GA and v1beta3 deprecated; NormalizeKubernetesVersion);
- initconfiguration.go / joinconfiguration.go = cmd/kubeadm/app/util/config (strict decoding
  errors are warnings for init and join: strictErrors=false);
- constants.go = cmd/kubeadm/app/constants/constants.go (ports, MinimumControlPlaneVersion =
  kubeadm's minor - 1, CurrentKubernetesVersion);
- validation.go = cmd/kubeadm/app/apis/kubeadm/validation/validation.go (ValidateMixedArguments,
  isAllowedFlag);
- types = cmd/kubeadm/app/apis/kubeadm/v1beta3 and v1beta4 types.go (the fields each kind has;
  v1beta4 at 017b1e4b, its v1.28 experimental form, and the fields its v1.31 GA added - timeouts,
  dryRun, proxy, encryptionAlgorithm, the validity periods, extraEnvs, dns.disabled,
  imagePullSerial - checked against a published copy of the GA types).

KUBEGCE_LAB_ROOT (default /) is the root every path is read under, so that tests run this file
on the host against a temporary directory; KUBEGCE_LAB_EUID stands for the effective uid there.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import Any

import yaml

KUBEADM_VERSION = "@KUBERNETES_VERSION@"
ROOT = os.environ.get("KUBEGCE_LAB_ROOT", "/")

# constants.go: KubeAPIServerPort, KubeSchedulerPort, KubeControllerManagerPort, KubeletPort,
# EtcdListenClientPort, EtcdListenPeerPort; KubernetesDir, ManifestsSubDirName, file names.
API_SERVER_PORT, SCHEDULER_PORT, CONTROLLER_MANAGER_PORT, KUBELET_PORT = 6443, 10259, 10257, 10250
ETCD_CLIENT_PORT, ETCD_PEER_PORT = 2379, 2380
KUBERNETES_DIR = "/etc/kubernetes"
MANIFESTS_DIR = f"{KUBERNETES_DIR}/manifests"
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
KUBELET_CONF = f"{KUBERNETES_DIR}/kubelet.conf"
BOOTSTRAP_KUBELET_CONF = f"{KUBERNETES_DIR}/bootstrap-kubelet.conf"
DEFAULT_CA_CERT_PATH = f"{KUBERNETES_DIR}/pki/ca.crt"  # JoinConfiguration.caCertPath's default
DEFAULT_ETCD_DATA_DIR = "/var/lib/etcd"  # LocalEtcd.dataDir's default
KUBELET_DIR = "/var/lib/kubelet"
KUBELET_DROP_IN = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
IPV4_FORWARD = "/proc/sys/net/ipv4/ip_forward"  # checks.go ipv4Forward
SWAPOFF_MARKER = "/run/kubegce-lab/swapoff"  # the lab's swapoff stand-in: `swapoff -a` ran this boot

# validation.go isAllowedFlag: the flags kubeadm accepts beside --config (and any --skip-*).
ALLOWED_WITH_CONFIG = frozenset({
    "config", "ignore-preflight-errors", "dry-run", "kubeconfig", "node-name", "kubeconfig-dir", "upload-certs",
    "print-join-command", "rootfs", "v", "log-file",
})  # fmt: skip
# checks_linux.go addExecChecks: (executable, mandatory); mandatory ones are errors, the others warnings.
EXEC_CHECKS = (
    ("ip", True), ("iptables", True), ("mount", True), ("nsenter", True),
    ("ebtables", False), ("ethtool", False), ("socat", False), ("tc", False), ("touch", False),
)  # fmt: skip

# common.go validateSupportedVersion: API versions refused with the kubeadm release to migrate with.
OLD_API_VERSIONS = {
    "kubeadm.k8s.io/v1alpha1": "v1.11", "kubeadm.k8s.io/v1alpha2": "v1.12", "kubeadm.k8s.io/v1alpha3": "v1.14",
    "kubeadm.k8s.io/v1beta1": "v1.15", "kubeadm.k8s.io/v1beta2": "v1.22",
}  # fmt: skip
V1BETA3, V1BETA4 = "kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"

# The fields of each kind (types.go of v1beta3 and v1beta4). A value is a Go type name for a leaf,
# a dict for a struct, or ("list", item) for a slice.
Schema = dict[str, Any]
ARG: Schema = {"name": "string", "value": "string"}
TAINT: Schema = {"key": "string", "value": "string", "effect": "string", "timeAdded": "string"}
ENDPOINT: Schema = {"advertiseAddress": "string", "bindPort": "int32"}
TOKEN: Schema = {"token": "string", "description": "string", "ttl": "string", "expires": "string",
                 "usages": "[]string", "groups": "[]string"}  # fmt: skip
PATCHES: Schema = {"directory": "string"}
VOLUME: Schema = {"name": "string", "hostPath": "string", "mountPath": "string", "readOnly": "bool",
                  "pathType": "string"}  # fmt: skip
ENV: Schema = {"name": "string", "value": "string", "valueFrom": "object"}
TIMEOUTS: Schema = {k: "string" for k in ("controlPlaneComponentHealthCheck", "kubeletHealthCheck",
                    "kubernetesAPICall", "etcdAPICall", "tlsBootstrap", "discovery", "upgradeManifests")}  # fmt: skip
EXTERNAL_ETCD: Schema = {"endpoints": "[]string", "caFile": "string", "certFile": "string", "keyFile": "string"}
NETWORKING: Schema = {"serviceSubnet": "string", "podSubnet": "string", "dnsDomain": "string"}
FILE_DISCOVERY: Schema = {"kubeConfigPath": "string"}
TOKEN_DISCOVERY: Schema = {"token": "string", "apiServerEndpoint": "string", "caCertHashes": "[]string",
                           "unsafeSkipCAVerification": "bool"}  # fmt: skip
META: Schema = {"apiVersion": "string", "kind": "string"}


def _kinds(v4: bool) -> dict[str, Schema]:
    args: Any = ("list", ARG) if v4 else "map[string]string"  # v1beta4 made extra args a list of name/value
    extra: Schema = {"extraEnvs": ("list", ENV)} if v4 else {}
    component: Schema = {"extraArgs": args, "extraVolumes": ("list", VOLUME), **extra}
    node: Schema = {"name": "string", "criSocket": "string", "taints": ("list", TAINT), "kubeletExtraArgs": args,
                    "ignorePreflightErrors": "[]string", "imagePullPolicy": "string"}  # fmt: skip
    api_server: Schema = {**component, "certSANs": "[]string"}
    dns: Schema = {"imageRepository": "string", "imageTag": "string"}
    local_etcd: Schema = {"imageRepository": "string", "imageTag": "string", "dataDir": "string", "extraArgs": args,
                          "serverCertSANs": "[]string", "peerCertSANs": "[]string", **extra}  # fmt: skip
    discovery: Schema = {"bootstrapToken": TOKEN_DISCOVERY, "file": FILE_DISCOVERY, "tlsBootstrapToken": "string"}
    init: Schema = {**META, "bootstrapTokens": ("list", TOKEN), "nodeRegistration": node, "localAPIEndpoint": ENDPOINT,
                    "certificateKey": "string", "skipPhases": "[]string", "patches": PATCHES}  # fmt: skip
    cluster: Schema = {**META, "etcd": {"local": local_etcd, "external": EXTERNAL_ETCD}, "networking": NETWORKING,
                       "kubernetesVersion": "string", "controlPlaneEndpoint": "string", "apiServer": api_server,
                       "controllerManager": component, "scheduler": component, "dns": dns,
                       "certificatesDir": "string", "imageRepository": "string", "featureGates": "map[string]bool",
                       "clusterName": "string"}  # fmt: skip
    join: Schema = {**META, "nodeRegistration": node, "caCertPath": "string", "discovery": discovery,
                    "controlPlane": {"localAPIEndpoint": ENDPOINT, "certificateKey": "string"},
                    "skipPhases": "[]string", "patches": PATCHES}  # fmt: skip
    if v4:  # fields v1beta4 added (v1.31)
        node["imagePullSerial"] = "bool"
        dns["disabled"] = "bool"
        init.update(dryRun="bool", timeouts=TIMEOUTS)
        join.update(dryRun="bool", timeouts=TIMEOUTS)
        cluster.update(proxy={"disabled": "bool"}, encryptionAlgorithm="string",
                       certificateValidityPeriod="string", caCertificateValidityPeriod="string")  # fmt: skip
    else:  # v1beta3 fields that v1beta4 moved into timeouts
        api_server["timeoutForControlPlane"] = "string"
        discovery["timeout"] = "string"
    return {"InitConfiguration": init, "ClusterConfiguration": cluster, "JoinConfiguration": join}


KINDS = {V1BETA3: _kinds(False), V1BETA4: _kinds(True)}
GO_PACKAGE = {V1BETA3: "v1beta3", V1BETA4: "v1beta4"}


class Refused(Exception):
    """What kubeadm prints before it exits 1."""


LAB_TOKENS = "/var/lib/kubegce-lab/tokens"


def path(p: str) -> str:
    return os.path.join(ROOT, p.lstrip("/"))


def record_call(argv: list[str]) -> None:
    log = path("/var/log/kubegce-lab/calls.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "a") as f:
        f.write(" ".join([os.path.basename(argv[0]), *argv[1:]]) + "\n")


def minor(version: str) -> int | None:
    m = re.fullmatch(r"v?1\.([0-9]+)\.[0-9]+(?:[-+].*)?", version.strip())
    return int(m.group(1)) if m else None


# --- flags -------------------------------------------------------------------------------------


def parse_flags(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional arguments and --flags (--name=value or --name value; a flag followed by another
    flag or nothing is a boolean)."""
    positional: list[str] = []
    flags: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if not eq:
                if i + 1 < len(args) and not args[i + 1].startswith("-"):
                    value = args[i + 1]
                    i += 1
                else:
                    value = "true"
            flags[name] = value
        else:
            positional.append(a)
        i += 1
    return positional, flags


def check_mixed_flags(flags: dict[str, str]) -> None:
    """validation.go ValidateMixedArguments: with --config, only isAllowedFlag's flags."""
    if "config" not in flags:
        return
    mixed = [n for n in flags if n not in ALLOWED_WITH_CONFIG and not n.startswith("skip-")]
    if mixed:
        raise Refused(f"can not mix '--config' with arguments [{' '.join(mixed)}]")


# --- configuration -----------------------------------------------------------------------------


def go_type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def _fits(kind: str, value: Any) -> bool:
    if value is None:
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "int32":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "[]string":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "map[string]string":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == "map[string]bool":
        return isinstance(value, dict) and all(isinstance(v, bool) for v in value.values())
    return True  # "object": anything


def decode(doc: dict[str, Any], schema: Schema, where: str, api: str, kind: str, unknown: list[str]) -> None:
    """What sigs.k8s.io/yaml's strict decoding into the Go struct finds: a value of the wrong
    JSON type is an error (json: cannot unmarshal ...), an unknown field only a warning for init
    and join (initconfiguration.go / joinconfiguration.go decode with strictErrors=false)."""
    for key, value in doc.items():
        field = f"{where}.{key}" if where else str(key)
        if key not in schema:
            unknown.append(field)
            continue
        spec = schema[key]
        go_field = f"{kind}.{field}"
        if isinstance(spec, dict):
            if value is not None and not isinstance(value, dict):
                raise Refused(f"json: cannot unmarshal {go_type_of(value)} into Go struct field {go_field} of type "
                              f"{GO_PACKAGE[api]}.{key[:1].upper()}{key[1:]}")  # fmt: skip
            decode(value or {}, spec, field, api, kind, unknown)
        elif isinstance(spec, tuple):
            item = spec[1]
            if value is not None and not isinstance(value, list):
                go_item = "Arg" if item is ARG else "struct"
                raise Refused(f"json: cannot unmarshal {go_type_of(value)} into Go struct field {go_field} of type "
                              f"[]{GO_PACKAGE[api]}.{go_item}")  # fmt: skip
            for n, element in enumerate(value or []):
                if not isinstance(element, dict):
                    raise Refused(f"json: cannot unmarshal {go_type_of(element)} into Go struct field {go_field} of "
                                  "type struct")  # fmt: skip
                decode(element, item, f"{field}[{n}]", api, kind, unknown)
        elif not _fits(spec, value):
            raise Refused(f"json: cannot unmarshal {go_type_of(value)} into Go struct field {go_field} of type {spec}")


def raw_documents(config_path: str) -> dict[str, dict[str, Any]]:
    """The documents of a file already loaded once, by kind, unchecked."""
    with open(path(config_path)) as f:
        return {str(d.get("kind")): d for d in yaml.safe_load_all(f) if isinstance(d, dict)}


def load_config(config_path: str, command: str, own_minor: int) -> dict[str, dict[str, Any]]:
    """The kubeadm documents of --config by kind, after the API version and decoding checks."""
    try:
        with open(path(config_path)) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except OSError as exc:
        raise Refused(f"unable to read config from {config_path!r} : {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise Refused(f"error converting YAML to JSON: {str(exc).splitlines()[0]}") from None
    if not all(isinstance(d, dict) for d in docs):
        raise Refused("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal into Object")
    # initconfiguration.go sorts the documents by their GroupVersionKind string before decoding
    docs.sort(key=lambda d: f"{d.get('apiVersion')}, Kind={d.get('kind')}")
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        api, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        if not api.startswith("kubeadm.k8s.io/"):
            continue  # component configs (KubeletConfiguration, ...) are not checked here
        if command == "join" and kind != "JoinConfiguration":
            continue  # joinconfiguration.go: only the JoinConfiguration is read
        if api in OLD_API_VERSIONS:  # common.go validateSupportedVersion
            raise Refused(
                f'your configuration file uses an old API spec: "{api}" (kind: "{kind}"). Please use kubeadm '
                f"{OLD_API_VERSIONS[api]} instead and run 'kubeadm config migrate --old-config old.yaml "
                "--new-config new.yaml', which will write the new, similar spec using a newer API version."
            )
        if api == V1BETA4 and own_minor < 31:  # v1beta4 was experimental in v1.28-v1.30
            raise Refused(f'experimental API spec: "{api}" (kind: "{kind}") is not allowed. You can use the '
                          "--allow-experimental-api flag if the command supports it.")  # fmt: skip
        if api == V1BETA4 and kind in ("ResetConfiguration", "UpgradeConfiguration"):
            continue  # kinds of other kubeadm commands: init and join skip them
        if api not in KINDS or kind not in KINDS[api]:
            raise Refused(f'no kind "{kind}" is registered for version "{api}" in scheme '
                          '"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"')  # fmt: skip
        if api == V1BETA3 and own_minor >= 31:
            warn(f'your configuration file uses a deprecated API spec: "{api}" (kind: "{kind}"). Please use '
                 "'kubeadm config migrate --old-config old.yaml --new-config new.yaml', which will write the new, "
                 "similar spec using a newer API version.")  # fmt: skip
        unknown: list[str] = []
        decode(doc, KINDS[api][kind], "", api, kind, unknown)
        for field in unknown:
            warn(f'error unmarshaling configuration schema.GroupVersionKind{{Group:"kubeadm.k8s.io", '
                 f'Version:"{api.split("/")[1]}", Kind:"{kind}"}}: strict decoding error: unknown field "{field}"')  # fmt: skip
        out[kind] = doc
    if command == "join" and "JoinConfiguration" not in out:
        raise Refused("no JoinConfiguration found in the supplied config")
    return out


def warn(message: str) -> None:
    print(f"W0000 00:00:00.000000       1 kubeadm-stand-in] {message}", file=sys.stderr)


def check_certificate_key(key: Any, field: str) -> None:
    """validation.go ValidateCertificateKey: a hex encoded AES key of 32 bytes."""
    if key and not re.fullmatch(r"[0-9a-fA-F]{64}", str(key)):
        raise Refused(f"{field}: Invalid value: the certificate key must be a hex encoded AES key of size 32 bytes")


def check_kubernetes_version(cluster: dict[str, Any], own_minor: int) -> str:
    """common.go NormalizeKubernetesVersion: not lower than MinimumControlPlaneVersion (kubeadm's
    minor - 1; constants.go); checks.go KubernetesVersionCheck warns above kubeadm's minor."""
    version = str(cluster.get("kubernetesVersion") or f"v1.{own_minor}.0")
    wanted = minor(version)
    if wanted is None:
        raise Refused(f'couldn\'t parse Kubernetes version "{version}"')
    if wanted < own_minor - 1:
        raise Refused("this version of kubeadm only supports deploying clusters with the control plane version >= "
                      f"1.{own_minor - 1}.0. Current version: {version}")  # fmt: skip
    return version


# --- preflight ---------------------------------------------------------------------------------


class Preflight:
    """checks.go RunChecks: every check runs; errors of checks named in --ignore-preflight-errors
    (or nodeRegistration.ignorePreflightErrors, or "all") become warnings."""

    def __init__(self, ignored: set[str]) -> None:
        self.ignored = {i.lower() for i in ignored}
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def add(self, name: str, message: str, error: bool = True) -> None:
        if error and not ({"all", name.lower()} & self.ignored):
            self.errors.append(f"\t[ERROR {name}]: {message}")
        else:
            self.warnings.append(f"\t[WARNING {name}]: {message}")

    def finish(self) -> None:
        for w in self.warnings:
            print(w, file=sys.stderr)
        if self.errors:
            raise Refused("[preflight] Some fatal errors occurred:\n" + "\n".join(self.errors) + "\n[preflight] If you "
                          "know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`\n"
                          "error execution phase preflight: preflight checks failed\n"
                          "To see the stack trace of this error execute with --v=5 or higher")  # fmt: skip

    # checks_unix.go IsPrivilegedUserCheck
    def root(self) -> None:
        if int(os.environ.get("KUBEGCE_LAB_EUID", os.geteuid())) != 0:
            self.add("IsPrivilegedUser", "user is not running as root")

    # checks.go FileAvailableCheck: the file must not exist
    def file_available(self, p: str) -> None:
        if os.path.lexists(path(p)):
            self.add(f"FileAvailable-{p.replace('/', '-')}", f"{p} already exists")

    # checks.go DirAvailableCheck: absent, or an empty directory (lost+found counts)
    def dir_available(self, p: str) -> None:
        full = path(p)
        if not os.path.lexists(full):
            return
        try:
            entries = os.listdir(full)
        except OSError as exc:
            self.add(f"DirAvailable-{p.replace('/', '-')}", f"unable to check if {p} is empty: {exc.strerror}")
            return
        if entries:
            self.add(f"DirAvailable-{p.replace('/', '-')}", f"{p} is not empty")

    # checks.go PortOpenCheck (net.Listen on :PORT): here, a socket LISTENing on it
    def port(self, port: int) -> None:
        if port in listening_ports():
            self.add(f"Port-{port}", f"Port {port} is in use")

    # checks.go SwapCheck: /proc/swaps with more than its header line (an error since v1.28)
    def swap(self) -> None:
        if swap_on():
            self.add("Swap", "swap is supported for cgroup v2 only. The kubelet must be properly configured to use "
                     "swap. Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, "
                     "or disable swap on the node")  # fmt: skip

    # checks_linux.go addExecChecks + checks.go InPathCheck
    def executables(self, kubernetes_version: str) -> None:
        wanted = list(EXEC_CHECKS)
        m = minor(kubernetes_version)
        if m is not None and m < 32:  # "For k8s >= 1.32.0, kube-proxy no longer depends on conntrack"
            wanted.insert(0, ("conntrack", True))
        for exe, mandatory in wanted:
            if shutil.which(exe) is None:
                self.add(f"FileExisting-{exe}", f"{exe} not found in system path", error=mandatory)

    # checks.go FileContentCheck on ipv4Forward (addIPv4Checks)
    def ipv4_forward(self) -> None:
        try:
            with open(path(IPV4_FORWARD), "rb") as f:
                ok = f.read(1) == b"1"
        except OSError:
            self.add(f"FileContent-{IPV4_FORWARD.replace('/', '-')}", f"{IPV4_FORWARD} does not exist")
            return
        if not ok:
            self.add(f"FileContent-{IPV4_FORWARD.replace('/', '-')}", f"{IPV4_FORWARD} contents are not set to 1")


def listening_ports() -> set[int]:
    ports: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            with open(path(f"/proc/net/{name}")) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def swap_on() -> bool:
    if os.path.exists(path(SWAPOFF_MARKER)):
        return False  # `swapoff -a` ran this boot (the lab's swapoff records instead of changing the host)
    try:
        with open(path("/proc/swaps")) as f:
            return len(f.read().splitlines()) > 1
    except OSError:
        return False  # checks.go: "/proc/swaps not available, thus no reasons to warn"


def ignored_errors(flags: dict[str, str], registration: dict[str, Any]) -> set[str]:
    out = {s for s in flags.get("ignore-preflight-errors", "").split(",") if s}
    return out | {str(s) for s in registration.get("ignorePreflightErrors") or []}


def skips_preflight(flags: dict[str, str], doc: dict[str, Any]) -> bool:
    phases = flags.get("skip-phases", "").split(",") + [str(p) for p in doc.get("skipPhases") or []]
    return "preflight" in phases


def etcd_data_dir(cluster: dict[str, Any]) -> str | None:
    etcd = cluster.get("etcd") or {}
    if etcd.get("external"):
        return None
    return str((etcd.get("local") or {}).get("dataDir") or DEFAULT_ETCD_DATA_DIR)


def bind_port(endpoint: dict[str, Any] | None) -> int:
    return int((endpoint or {}).get("bindPort") or API_SERVER_PORT)


def control_plane_checks(pre: Preflight, port: int, cluster: dict[str, Any]) -> None:
    """checks.go InitNodeChecks, the part a joining control plane runs too (isSecondaryControlPlane)."""
    for p in (port, SCHEDULER_PORT, CONTROLLER_MANAGER_PORT):
        pre.port(p)
    for pod in STATIC_PODS:
        pre.file_available(f"{MANIFESTS_DIR}/{pod}.yaml")
    data_dir = etcd_data_dir(cluster)
    if data_dir is not None:
        pre.port(ETCD_CLIENT_PORT)
        pre.port(ETCD_PEER_PORT)
        pre.dir_available(data_dir)


def common_checks(pre: Preflight, kubernetes_version: str) -> None:
    """checks.go addCommonChecks (what does not need a container runtime or a cluster)."""
    pre.swap()
    pre.executables(kubernetes_version)
    pre.port(KUBELET_PORT)


# --- what kubeadm leaves behind ------------------------------------------------------------------


def write(p: str, text: str, mode: int = 0o600) -> None:
    full = path(p)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)
    os.chmod(full, mode)


def kubelet_args(registration: dict[str, Any]) -> list[str]:
    extra = registration.get("kubeletExtraArgs") or []
    pairs = extra.items() if isinstance(extra, dict) else [(a.get("name"), a.get("value")) for a in extra]
    return [f"--{name}={value}" for name, value in pairs]


def kubelet_patches(directory: str) -> dict[str, Any]:
    """What the kubeletconfiguration patches of --config's patches.directory set (a merge patch
    each, in name order): cmd/kubeadm/app/util/patches/patches.go (v1.35), where a directory that
    cannot be read fails kubelet-start ("could not list patch files for path") and a file whose
    name is no TARGET[SUFFIX][+PATCHTYPE].EXTENSION of a known target is ignored with a notice."""
    if not directory:
        return {}
    try:
        names = sorted(os.listdir(path(directory)))
    except OSError as exc:
        raise Refused(f'error execution phase kubelet-start: could not list patch files for path "{directory}": '
                      f"{exc.strerror}") from None  # fmt: skip
    out: dict[str, Any] = {}
    for name in names:
        m = re.fullmatch(r"(?P<target>[a-z]+)[^+.]*(?:\+(?P<type>strategic|merge|json))?\.(?:yaml|json)", name)
        if m is None or m["target"] != "kubeletconfiguration" or m["type"] == "json":
            print(f'[patches] Ignoring file "{name}"', file=sys.stderr)
            continue
        with open(path(f"{directory}/{name}")) as f:
            doc = yaml.safe_load(f) or {}
        if not isinstance(doc, dict):
            raise Refused(f'error execution phase kubelet-start: could not apply patch "{name}": not a mapping')
        out.update({k: v for k, v in doc.items() if k not in ("apiVersion", "kind")})
    return out


def start_kubelet(registration: dict[str, Any], patches: str = "") -> None:
    """The kubelet-start phase: kubeadm writes kubeadm-flags.env and the kubelet's config, then
    (re)starts the kubelet with systemd and waits for it to be healthy. Here the kubelet found on
    PATH is run once with the command line systemd would give it (the bootstrap's 10-kubeadm.conf);
    a kubelet that exits non-zero is what real kubeadm reports after its wait times out."""
    args = kubelet_args(registration)
    write(f"{KUBELET_DIR}/kubeadm-flags.env", f'KUBELET_KUBEADM_ARGS="{" ".join(args)}"\n', 0o644)
    if not os.path.exists(path(f"{KUBELET_DIR}/config.yaml")):
        config = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                  "cgroupDriver": "systemd", **kubelet_patches(patches)}  # fmt: skip
        write(f"{KUBELET_DIR}/config.yaml", yaml.safe_dump(config, sort_keys=False), 0o644)
    exe, args = unit_command_line()
    kubelet = path(exe) if exe.startswith("/") and os.path.exists(path(exe)) else shutil.which("kubelet")
    if kubelet is None:
        raise Refused("error execution phase kubelet-start: kubelet not found in system path")
    res = subprocess.run([kubelet, *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise Refused("error execution phase kubelet-start: the kubelet did not start (real kubeadm waits "
                      "for its health check and times out): " + res.stderr.strip())  # fmt: skip


def unit_command_line() -> tuple[str, list[str]]:
    """The kubelet's arguments from the bootstrap's drop-in (Environment=, EnvironmentFile= and the
    last ExecStart=, with $VAR expanded and split on whitespace as systemd does)."""
    env: dict[str, str] = {}
    command = ""
    try:
        with open(path(KUBELET_DROP_IN)) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = ['Environment="A=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf '
                 '--kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml"',
                 "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env", "ExecStart=kubelet $A $KUBELET_KUBEADM_ARGS"]  # fmt: skip
    for line in lines:
        key, _, value = line.partition("=")
        if key == "Environment":
            for assignment in shlex.split(value):
                k, _, v = assignment.partition("=")
                env[k] = v
        elif key == "EnvironmentFile":
            env.update(read_env_file(value.lstrip("-")))
        elif key == "ExecStart":
            command = value
    words = command.split() or ["kubelet"]
    out: list[str] = []
    for w in words[1:]:
        m = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", w)
        out.extend(env.get(m.group(1), "").split() if m else [w])
    return words[0], out


def read_env_file(p: str) -> dict[str, str]:
    try:
        with open(path(p)) as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in lines:
        k, eq, v = line.partition("=")
        if eq and not k.startswith("#"):
            out[k.strip()] = " ".join(shlex.split(v))
    return out


def leave_control_plane_files(registration: dict[str, Any], patches: str = "") -> None:
    for name in ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"):
        write(f"{KUBERNETES_DIR}/{name}", f"# boot lab stand-in for kubeadm's {name}\n")
    for pod in STATIC_PODS:
        write(f"{MANIFESTS_DIR}/{pod}.yaml", f"# boot lab stand-in for the {pod} static pod\n")
    if not os.path.exists(path(DEFAULT_CA_CERT_PATH)):
        write(DEFAULT_CA_CERT_PATH, "# boot lab stand-in for the cluster CA kubeadm generates\n", 0o644)
    write(KUBELET_CONF, "# boot lab stand-in for the kubelet's kubeconfig\n")
    start_kubelet(registration, patches)


# --- commands ----------------------------------------------------------------------------------


def init(flags: dict[str, str], own_minor: int, positional: list[str]) -> None:
    docs = load_config(flags["config"], "init", own_minor) if "config" in flags else {}
    init_cfg, cluster = docs.get("InitConfiguration", {}), docs.get("ClusterConfiguration", {})
    check_certificate_key(init_cfg.get("certificateKey"), "certificateKey")
    version = check_kubernetes_version(cluster, own_minor)
    registration = init_cfg.get("nodeRegistration") or {}
    pre = Preflight(ignored_errors(flags, registration))
    pre.root()  # RunRootCheckOnly comes first
    pre.finish()
    if not skips_preflight(flags, init_cfg):
        if (minor(version) or 0) > own_minor:  # checks.go KubernetesVersionCheck (a warning)
            pre.add("KubernetesVersion", "Kubernetes version is greater than kubeadm version. Please consider to "
                    f"upgrade kubeadm. Kubernetes version: {version}. Kubeadm version: 1.{own_minor}.x", error=False)  # fmt: skip
        control_plane_checks(pre, bind_port(init_cfg.get("localAPIEndpoint")), cluster)
        common_checks(pre, version)
        networking = cluster.get("networking") or {}
        subnets = f"{networking.get('serviceSubnet') or '10.96.0.0/12'},{networking.get('podSubnet') or ''}"
        if any(re.fullmatch(r"[0-9.]+/[0-9]+", s.strip()) for s in subnets.split(",")):
            pre.ipv4_forward()
        pre.finish()
    leave_control_plane_files(registration, str((init_cfg.get("patches") or {}).get("directory") or ""))


def join_from_flags(positional: list[str], flags: dict[str, str]) -> dict[str, Any]:
    """A JoinConfiguration from kubeadm join's flags (cmd/kubeadm/app/cmd/join.go), when no --config."""
    discovery: dict[str, Any] = {}
    if "discovery-file" in flags:
        discovery["file"] = {"kubeConfigPath": flags["discovery-file"]}
    elif len(positional) > 1 and ("token" in flags or "discovery-token" in flags):
        discovery["bootstrapToken"] = {"apiServerEndpoint": positional[1]}
    cfg: dict[str, Any] = {"discovery": discovery}
    if flags.get("control-plane") == "true":
        cfg["controlPlane"] = {"certificateKey": flags.get("certificate-key", "")}
    return cfg


def join(flags: dict[str, str], own_minor: int, positional: list[str]) -> None:
    if "config" in flags:
        join_cfg = load_config(flags["config"], "join", own_minor)["JoinConfiguration"]
    else:
        join_cfg = join_from_flags(positional, flags)
    control_plane = join_cfg.get("controlPlane")
    if control_plane is not None:
        check_certificate_key((control_plane or {}).get("certificateKey"), "controlPlane.certificateKey")
    discovery = join_cfg.get("discovery") or {}
    file_discovery = (discovery.get("file") or {}).get("kubeConfigPath")
    if not discovery.get("bootstrapToken") and not file_discovery:  # validation.go ValidateDiscovery
        raise Refused('discovery: Invalid value: "": bootstrapToken or file must be set')
    registration = join_cfg.get("nodeRegistration") or {}
    pre = Preflight(ignored_errors(flags, registration))
    pre.root()
    pre.finish()
    ca_cert = str(join_cfg.get("caCertPath") or DEFAULT_CA_CERT_PATH)
    if not skips_preflight(flags, join_cfg):
        # checks.go JoinNodeChecks (with addCommonChecks; kubeadm passes no Kubernetes version here)
        if own_minor < 32:  # an older JoinNodeChecks had it; the v1.32-era checks.go has it no more
            pre.dir_available(MANIFESTS_DIR)
        pre.file_available(KUBELET_CONF)
        pre.file_available(BOOTSTRAP_KUBELET_CONF)
        common_checks(pre, "")
        endpoint = str((discovery.get("bootstrapToken") or {}).get("apiServerEndpoint") or "")
        if re.fullmatch(r"[0-9.]+:[0-9]+", endpoint):  # JoinNodeChecks: an IPv4 token discovery endpoint
            pre.ipv4_forward()
        if control_plane is None:
            pre.file_available(ca_cert)  # only a worker: kubeadm writes the CA from discovery
        else:
            # InitNodeChecks(isSecondaryControlPlane=true) with the cluster's ClusterConfiguration,
            # which kubeadm reads from the kubeadm-config ConfigMap; the lab has no cluster and takes
            # the one the rendered file holds (the first control plane's init used the same).
            port = bind_port((control_plane or {}).get("localAPIEndpoint"))
            cluster = raw_documents(flags["config"]).get("ClusterConfiguration", {}) if "config" in flags else {}
            control_plane_checks(pre, port, cluster)
        pre.finish()
    if file_discovery and not os.path.exists(path(str(file_discovery))):
        raise Refused(f"couldn't validate the identity of the API Server: open {file_discovery}: no such file or "
                      "directory")  # fmt: skip
    if control_plane is None and not os.path.exists(path(ca_cert)):
        write(ca_cert, "# boot lab stand-in for the cluster CA kubeadm wrote from discovery\n", 0o644)
    patches = str((join_cfg.get("patches") or {}).get("directory") or "")
    if control_plane is not None:
        leave_control_plane_files(registration, patches)
        return
    write(BOOTSTRAP_KUBELET_CONF, "# boot lab stand-in for the kubelet's bootstrap kubeconfig\n")
    start_kubelet(registration, patches)
    if not os.path.exists(path(KUBELET_CONF)):
        raise Refused("error execution phase kubelet-start: the kubelet did not write /etc/kubernetes/kubelet.conf")
    os.remove(path(BOOTSTRAP_KUBELET_CONF))  # kubeadm removes it once the TLS bootstrap is done


def main(argv: list[str]) -> int:
    record_call(argv)
    own_minor = minor(KUBEADM_VERSION)
    if own_minor is None:
        print(f"kubeadm stand-in: not a version: {KUBEADM_VERSION!r}", file=sys.stderr)
        return 2
    positional, flags = parse_flags(argv[1:])
    command = positional[0] if positional else ""
    if command == "version":
        short = "short" in argv[2:] or flags.get("output") == "short"
        print(f"v{KUBEADM_VERSION}" if short else f'kubeadm version: "v{KUBEADM_VERSION}"')
        return 0
    if command == "token" and positional[1:2] == ["create"] and len(positional) > 2:
        # the lab's stand-in of the cluster's bootstrap-token Secrets (the lab's kubectl reads them;
        # kubeadm refuses a token that exists: cmd/kubeadm/app/phases/bootstraptoken/node/token.go)
        token_id = positional[2].split(".", 1)[0]
        if os.path.exists(path(f"{LAB_TOKENS}/bootstrap-token-{token_id}")):
            print(f'secrets "bootstrap-token-{token_id}" already exists', file=sys.stderr)
            return 1
        write(f"{LAB_TOKENS}/bootstrap-token-{token_id}", f"ttl={flags.get('ttl', '24h')}\n")
        return 0
    if command not in ("init", "join"):
        return 0  # upgrade, ...: recorded only
    try:
        check_mixed_flags(flags)
        (init if command == "init" else join)(flags, own_minor, positional)
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
