#!/usr/bin/python3
"""Boot-lab stand-in for the kubelet: the checks the real kubelet makes on its command line and
its node before it serves, then what its TLS bootstrap leaves behind.

The lab's assets mirror serves this file as the kubelet binary of Kubernetes @KUBERNETES_VERSION@;
the kubeadm stand-in runs it once with the command line the bootstrap's systemd drop-in gives it
(kubeadm's kubelet-start phase). It records its call in /var/log/kubegce-lab/calls.log and exits 1
with the kubelet's own message where the kubelet would exit at start (systemd would restart it
for ever: a crash loop). On success it writes the --kubeconfig a TLS bootstrap would (from a
readable --bootstrap-kubeconfig) and exits 0 instead of serving.

Written from kubernetes/kubernetes source (read through the project's search tool; no code copied):

- cmd/kubelet/app/options/options.go at commit 6785e9ed (ValidateKubeletFlags: --node-labels in
  the kubernetes.io and k8s.io namespaces outside the kubelet's own set are refused; keys must be
  qualified names and values valid label values);
- staging/src/k8s.io/kubelet/pkg/apis/well_known_labels.go (kubeletLabels, kubeletLabelNamespaces);
- pkg/kubelet/kubelet.go NewMainKubelet (v1.31+, in-tree cloud providers removed): a
  --cloud-provider other than "" or "external" is refused;
- cmd/kubelet/app/server.go (flag parse errors: "failed to parse kubelet flag"; failSwapOn);
- flags removed with dockershim (v1.24) and --container-runtime (v1.27), which pflag then refuses
  as unknown.

KUBEGCE_LAB_ROOT (default /) is the root every path is read under, so that tests run this file on
the host against a temporary directory.
"""

from __future__ import annotations

import os
import re
import sys

import yaml

KUBELET_VERSION = "@KUBERNETES_VERSION@"
ROOT = os.environ.get("KUBEGCE_LAB_ROOT", "/")
SWAPOFF_MARKER = "/run/kubegce-lab/swapoff"  # the lab's swapoff stand-in: `swapoff -a` ran this boot

# well_known_labels.go: the keys a kubelet may set on its own Node, and the namespaces it may use.
KUBELET_LABELS = (
    "beta.kubernetes.io/arch", "beta.kubernetes.io/instance-type", "beta.kubernetes.io/os",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "kubernetes.io/arch",
    "kubernetes.io/hostname", "kubernetes.io/os", "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
)  # fmt: skip
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
# Flags that no longer exist in the kubelets kubegce runs (removed with dockershim in v1.24;
# --container-runtime in v1.27): pflag refuses them as unknown.
REMOVED_FLAGS = frozenset({
    "container-runtime", "network-plugin", "network-plugin-mtu", "cni-bin-dir", "cni-conf-dir", "cni-cache-dir",
    "docker-endpoint", "image-pull-progress-deadline", "experimental-dockershim-root-directory",
    "non-masquerade-cidr", "dynamic-config-dir",
})  # fmt: skip
BOOL_FLAGS = frozenset({"fail-swap-on", "register-node", "rotate-certificates", "exit-on-lock-contention"})
# apimachinery/pkg/util/validation: IsQualifiedName and IsValidLabelValue
NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


class Refused(Exception):
    pass


def path(p: str) -> str:
    return os.path.join(ROOT, p.lstrip("/"))


def record_call(argv: list[str]) -> None:
    log = path("/var/log/kubegce-lab/calls.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "a") as f:
        f.write(" ".join([os.path.basename(argv[0]), *argv[1:]]) + "\n")


def parse_flags(args: list[str]) -> dict[str, str]:
    flags: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-"):
            i += 1
            continue
        name, eq, value = a.lstrip("-").partition("=")
        if name in REMOVED_FLAGS:
            raise Refused(f"failed to parse kubelet flag: unknown flag: --{name}")
        if not eq:
            if name not in BOOL_FLAGS and i + 1 < len(args) and not args[i + 1].startswith("-"):
                value = args[i + 1]
                i += 1
            else:
                value = "true"
        flags[name] = value
        i += 1
    return flags


def _in_namespace(namespace: str, domain: str) -> bool:
    return namespace == domain or namespace.endswith("." + domain)


def qualified_name_errors(key: str) -> list[str]:
    prefix, slash, name = key.rpartition("/")
    errs = []
    if slash and (not prefix or len(prefix) > 253 or not re.fullmatch(DNS1123_SUBDOMAIN, prefix)):
        errs.append("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                    "'-' or '.', and must start and end with an alphanumeric character")  # fmt: skip
    if not name or len(name) > 63 or not re.fullmatch(NAME, name):
        errs.append("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")  # fmt: skip
    return errs


def check_node_labels(value: str) -> None:
    """options.go ValidateKubeletFlags on --node-labels (cliflag.ConfigurationMap: k=v,k=v)."""
    labels: dict[str, str] = {}
    for pair in value.split(","):
        if pair.strip():
            k, _, v = pair.partition("=")
            labels[k.strip()] = v.strip()
    unknown = []
    invalid = []
    for k, v in labels.items():
        namespace = k.split("/", 1)[0] if "/" in k else ""
        kubernetes = _in_namespace(namespace, "kubernetes.io") or _in_namespace(namespace, "k8s.io")
        kubelet_label = k in KUBELET_LABELS or any(_in_namespace(namespace, d) for d in KUBELET_LABEL_NAMESPACES)
        if kubernetes and not kubelet_label:
            unknown.append(k)
        errs = qualified_name_errors(k)
        if errs:
            invalid.append(f"'{k}' - {', '.join(errs)}")
        if v and (len(v) > 63 or not re.fullmatch(NAME, v)):
            invalid.append(f"'{v}' - a valid label must be an empty string or consist of alphanumeric characters, "
                           "'-', '_' or '.', and must start and end with an alphanumeric character")  # fmt: skip
    if unknown:
        raise Refused(
            f"failed to validate kubelet flags: unknown 'kubernetes.io' or 'k8s.io' labels specified with "
            f"--node-labels: [{' '.join(sorted(unknown))}]\n--node-labels in the 'kubernetes.io' namespace must begin "
            f"with an allowed prefix ({', '.join(KUBELET_LABEL_NAMESPACES)}) or be in the specifically allowed set "
            f"({', '.join(KUBELET_LABELS)})"
        )
    if invalid:
        raise Refused(f"failed to validate kubelet flags: invalid node labels: {'; '.join(invalid)}")


def load_config(flags: dict[str, str]) -> dict[str, object]:
    config = flags.get("config")
    if not config:
        return {}
    try:
        with open(path(config)) as f:
            doc = yaml.safe_load(f)
    except OSError as exc:
        raise Refused(f"failed to load kubelet config file, path: {config}, error: failed to load Kubelet config "
                      f"file {config}, error failed to read kubelet config file \"{config}\", error: open "
                      f"{config}: {exc.strerror.lower() if exc.strerror else exc}") from None  # fmt: skip
    return doc if isinstance(doc, dict) else {}


def swap_on() -> bool:
    if os.path.exists(path(SWAPOFF_MARKER)):
        return False
    try:
        with open(path("/proc/swaps")) as f:
            return len(f.read().splitlines()) > 1
    except OSError:
        return False


def run(flags: dict[str, str]) -> None:
    config = load_config(flags)
    if "node-labels" in flags:
        check_node_labels(flags["node-labels"])
    provider = flags.get("cloud-provider", "")
    if provider not in ("", "external"):  # kubelet.go NewMainKubelet
        raise Refused(f'cloud provider "{provider}" was specified, but built-in cloud providers are disabled. '
                      "Please set --cloud-provider=external and migrate to an external cloud provider")  # fmt: skip
    fail_swap_on = flags.get("fail-swap-on", str(config.get("failSwapOn", True))).lower() != "false"
    if fail_swap_on and swap_on():  # server.go / container manager: failSwapOn defaults to true
        raise Refused("running with swap on is not supported, please disable swap or set --fail-swap-on flag to "
                      "false")  # fmt: skip
    kubeconfig, bootstrap = flags.get("kubeconfig"), flags.get("bootstrap-kubeconfig")
    if kubeconfig and not os.path.exists(path(kubeconfig)):
        if not bootstrap or not os.path.exists(path(bootstrap)):
            raise Refused(f"failed to run Kubelet: unable to load bootstrap kubeconfig: stat {bootstrap or ''}: no "
                          "such file or directory")  # fmt: skip
        full = path(kubeconfig)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write("# boot lab stand-in for the kubelet's kubeconfig\n")
        os.chmod(full, 0o600)


def main(argv: list[str]) -> int:
    record_call(argv)
    if "--version" in argv[1:]:
        print(f"Kubernetes v{KUBELET_VERSION.lstrip('v')}")
        return 0
    try:
        run(parse_flags(argv[1:]))
    except Refused as exc:
        print(f'E0000 00:00:00.000000       1 run.go:72] "command failed" err="{exc}"', file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
