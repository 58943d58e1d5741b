"""Where everything lives in a state store: the one place that names its keys.

This mirrors the table in docs/state-store.md (keys are relative to the store's prefix):

| key                                         | what                                                  |
|---------------------------------------------|-------------------------------------------------------|
| CLUSTER/cluster                             | the Cluster document (YAML)                           |
| CLUSTER/instancegroup/GROUP                 | one InstanceGroup document each                       |
| CLUSTER/secrets/cluster.json                | CAs, service-account key, join token (secret)         |
| CLUSTER/secrets/ROLE.tar                    | what a ROLE node needs (secret), ROLE in :data:`ROLES`|
| CLUSTER/nodeconfig/ROLE/GROUP.env           | non-secret node config, per group                     |
| CLUSTER/discovery/api-address               | the API server's IP (not secret)                      |
| CLUSTER/discovery/init-election             | HA: the control plane that runs kubeadm init          |
| CLUSTER/rolling-update/force.json           | a `rolling-update --force` in progress                |
| CLUSTER/lease.json                          | who applies or rolls the cluster now (state/lease.py) |
| CLUSTER/secrets/backups/etcd/ID/snapshot.db | an etcd snapshot (secret: every Kubernetes Secret)    |
| CLUSTER/secrets/backups/etcd/ID/manifest.json | its manifest, written last (backups/manifest.py)    |
| CLUSTER/secrets/backups/etcd-request        | `kubegce backup etcd` asks the control planes for one |
| CLUSTER/secrets/backups/etcd-restore        | a `kubegce restore etcd` in progress (or its last)    |
| CLUSTER/secrets/backups/etcd-restore-leader-TOKEN | which control plane restores the snapshot (TOKEN: the round) |

Nodes read these names (through the URLs in their config), so changing one is a protocol change.
"""

from __future__ import annotations

from kubegce.spec.models import InstanceGroup, Role

ROLES = ("control-plane", "node")
CLUSTER_OBJECT = "cluster"


def role_of(group: InstanceGroup) -> str:
    """The role name used in keys (and on nodes): control-plane or node."""
    return "control-plane" if group.spec.role == Role.CONTROL_PLANE else "node"


def cluster_key(cluster: str) -> str:
    """The Cluster document; written last on create, so a cluster is visible only once whole."""
    return f"{cluster}/{CLUSTER_OBJECT}"


def is_cluster_key(key: str) -> bool:
    return key.count("/") == 1 and key.endswith("/" + CLUSTER_OBJECT)


def cluster_of(key: str) -> str:
    return key.split("/", 1)[0]


def cluster_prefix(cluster: str) -> str:
    """Every object of a cluster starts with this."""
    return f"{cluster}/"


def groups_prefix(cluster: str) -> str:
    return f"{cluster}/instancegroup"


def group_key(cluster: str, group: str) -> str:
    return f"{cluster}/instancegroup/{group}"


def rolling_marker_key(cluster: str) -> str:
    """A `rolling-update --force` in progress: the instances it started with (removed at its end)."""
    return f"{cluster}/rolling-update/force.json"


def rolling_sizes_key(cluster: str) -> str:
    """A roll of autoscaled groups in progress: each MIG's size when it began (removed at its end)."""
    return f"{cluster}/rolling-update/autoscaler-sizes.json"


def lease_key(cluster: str) -> str:
    """The lease an apply or a roll holds while it changes the cluster (state/lease.py)."""
    return f"{cluster}/lease.json"


def cluster_secrets_key(cluster: str) -> str:
    """Every secret of the cluster (CAs, keys, join token): only kubegce reads it."""
    return f"{cluster}/secrets/cluster.json"


def role_secrets_key(cluster: str, role: str) -> str:
    """The bundle a node of ``role`` fetches at boot (only what that role needs)."""
    return f"{cluster}/secrets/{role}.tar"


def is_secret_key(key: str) -> bool:
    return "/secrets/" in key


def node_config_key(cluster: str, group: InstanceGroup) -> str:
    return f"{cluster}/nodeconfig/{role_of(group)}/{group.name}.env"


def discovery_key(cluster: str) -> str:
    """The API server's address: written by the first control plane (or by kubegce for a
    load-balanced API), read by every other node before it joins."""
    return f"{cluster}/discovery/api-address"


def election_key(cluster: str) -> str:
    """Its create-only write elects the control plane that runs `kubeadm init` (HA); it holds the
    winner's instance name. `delete cluster` removes it with the rest of the cluster."""
    return f"{cluster}/discovery/init-election"


BACKUP_SNAPSHOT = "snapshot.db"
BACKUP_MANIFEST = "manifest.json"


def backups_dir(cluster: str) -> str:
    """Every etcd backup of the cluster is under this (no trailing slash): ID/snapshot.db and
    ID/manifest.json. Under secrets/: only kubegce and control planes read or write it."""
    return f"{cluster}/secrets/backups/etcd"


def backup_key(cluster: str, backup_id: str, name: str) -> str:
    return f"{backups_dir(cluster)}/{backup_id}/{name}"


def backup_request_key(cluster: str) -> str:
    """`kubegce backup etcd` writes a request token here; the etcd leader's backup job answers it
    (its manifest names the token) and deletes it."""
    return f"{cluster}/secrets/backups/etcd-request"


RESTORE_TOKEN_MARK = "RESTORETOKEN"  # replaced by the round's token on the node (URL-quoting keeps it)


def restore_marker_key(cluster: str) -> str:
    """`kubegce restore etcd` writes the restore here before it replaces a control plane: the
    backup, its sha256, the round's token and the instances the round replaces
    (kubegce.state.backups.RestoreMarker); a control plane that boots with no etcd member reads it."""
    return f"{cluster}/secrets/backups/etcd-restore"


def restore_leader_key(cluster: str, token: str = RESTORE_TOKEN_MARK) -> str:
    """Its create-only write elects the control plane that restores the snapshot in round ``token``
    (the others join it); it holds the winner's instance name."""
    return f"{cluster}/secrets/backups/etcd-restore-leader-{token}"
