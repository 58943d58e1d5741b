"""The cluster autoscaler and kubegce's own changes to MIG sizes, kept apart (docs/autoscaling.md).

- ``update cluster``: a MIG of an autoscaled group keeps the targetSize the autoscaler chose
  inside the MIG's share of [minSize, maxSize]; one outside is clamped to it
  (:func:`keep_autoscaler_sizes`, on the desired graph before the diff).
- ``rolling-update``: an autoscaled group rolls at the sizes its MIGs had when the roll began
  (recorded in the state store, :func:`kubegce.state.layout.rolling_sizes_key`, so a run killed
  after a surge does not take the surge for the autoscaler's choice), and its nodes carry
  ``cluster-autoscaler.kubernetes.io/scale-down-disabled=true`` for the roll
  (:class:`RollGuard`): the autoscaler removes none of them meanwhile. The annotation goes when
  the roll ends, only where kubegce put it (a second annotation says so); a rerun of a killed
  roll removes what the killed one left.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kubegce.cloud.graph import ResourceGraph, ResourceKey
from kubegce.errors import ConflictError
from kubegce.spec.autoscaler import SCALE_DOWN_DISABLED, MigRange, mig_ranges
from kubegce.spec.models import ClusterBundle, InstanceGroup
from kubegce.state.layout import rolling_sizes_key

if TYPE_CHECKING:
    from kubegce.cloud.gce.target import GceTarget
    from kubegce.kube.client import KubeClient
    from kubegce.state.base import StateStore

# set beside SCALE_DOWN_DISABLED where kubegce's roll put it: only those are removed after
SET_BY = "kubegce.io/scale-down-disabled-by"
SET_BY_VALUE = "rolling-update"


def keep_autoscaler_sizes(bundle: ClusterBundle, graph: ResourceGraph, owned: Mapping[ResourceKey, Any]) -> int:
    """Set each existing autoscaled MIG's desired targetSize to its current one, clamped to the
    MIG's share of [minSize, maxSize]; how many MIGs were kept at a size other than the min share."""
    kept = 0
    for g in bundle.instance_groups:
        for r in mig_ranges(bundle, g):
            key = ResourceKey("instance_group_manager", r.zone, r.name)
            desired, actual = graph.resources.get(key), owned.get(key)
            if desired is None or not isinstance(actual, dict) or "targetSize" not in actual:
                continue
            size = r.clamp(int(actual["targetSize"]))
            if size != desired.body.get("targetSize"):
                kept += 1
            desired.body["targetSize"] = size
    return kept


class RollGuard:
    """What a rolling update does about the cluster autoscaler: the sizes it rolls at and the
    scale-down-disabled annotations (see the module's doc)."""

    def __init__(self, target: GceTarget, bundle: ClusterBundle, *, kube: KubeClient | None,
                 store: StateStore | None, log: Callable[[str], None]) -> None:  # fmt: skip
        self.target = target
        self.bundle = bundle
        self.kube = kube
        self.store = store
        self.log = log
        self.sizes: dict[str, int] = {}  # MIG name -> the size it rolls at
        self.ranges: dict[str, MigRange] = {}
        self.active = False

    def sizes_of(self, group: InstanceGroup) -> dict[str, int] | None:
        """Zone -> size for an autoscaled group in this roll (None: roll at the spec's sizes)."""
        ranges = mig_ranges(self.bundle, group)
        if not self.active or not ranges:
            return None
        out = {z: 0 for z in group.spec.zones}  # a zone with max share 0 stays empty
        # clamped again: a killed roll's record may predate a change of minSize or maxSize
        out.update({r.zone: r.clamp(self.sizes.get(r.name, r.min)) for r in ranges})
        return out

    def begin(self, groups: list[InstanceGroup]) -> None:
        ranges = [r for g in groups for r in mig_ranges(self.bundle, g)]
        if not ranges:
            return
        self.ranges = {r.name: r for r in ranges}
        self.sizes = self._recorded() or {}
        fresh = {r.name: r.clamp(self._target_size(r)) for r in ranges if r.name not in self.sizes}
        if fresh:
            self.sizes.update(fresh)
            self._record()
        self.active = True
        self.log("autoscaled groups roll at their current sizes: " + ", ".join(
            f"{name} {size}" for name, size in sorted(self.sizes.items()) if name in self.ranges))  # fmt: skip
        if self.kube is None:
            self.log("--cloudonly: the cluster autoscaler is not told about the roll (no Kubernetes API); it may "
                     "remove a node meanwhile")  # fmt: skip

    def protect(self, node_names: list[str]) -> None:
        """Annotate these nodes scale-down-disabled (those not annotated yet)."""
        if not self.active or self.kube is None:
            return
        from kubegce.kube.annotations import node_annotations, set_node_annotations

        for name in node_names:
            current = node_annotations(self.kube, name)
            if current is None or current.get(SCALE_DOWN_DISABLED) == "true":
                continue
            set_node_annotations(self.kube, name, {**current, SCALE_DOWN_DISABLED: "true", SET_BY: SET_BY_VALUE})

    def end(self) -> None:
        """Remove the annotations kubegce put (on every node: a killed roll's too) and the record."""
        if self.kube is not None:
            from kubegce.kube.annotations import annotated_nodes, set_node_annotations

            for name, current in annotated_nodes(self.kube, SET_BY, SET_BY_VALUE).items():
                current.pop(SET_BY, None)
                current.pop(SCALE_DOWN_DISABLED, None)
                set_node_annotations(self.kube, name, current)
        if self.store is not None:
            key = rolling_sizes_key(self.bundle.cluster.name)
            got = self.store.read(key)
            if got is not None:
                self.store.delete(key, if_generation=got.generation)
        self.active = False

    def _target_size(self, r: MigRange) -> int:
        migs = self.target.clients.instance_group_managers
        project = self.bundle.cluster.spec.project
        try:
            mig = self.target.api.call(lambda: migs.get(project=project, zone=r.zone, instance_group_manager=r.name))
        except self.target.clients.not_found:
            return r.min
        return int(mig.target_size)

    def _recorded(self) -> dict[str, int] | None:
        if self.store is None:
            return None
        got = self.store.read(rolling_sizes_key(self.bundle.cluster.name))
        if got is None:
            return None
        data = json.loads(got.data.decode())
        self.log("continuing a roll of autoscaled groups at the sizes it began with")
        return {str(k): int(v) for k, v in dict(data.get("sizes", {})).items()}

    def _record(self) -> None:
        if self.store is None:
            return
        key = rolling_sizes_key(self.bundle.cluster.name)
        for _ in range(5):
            got = self.store.read(key)
            try:
                self.store.write(key, json.dumps({"sizes": self.sizes}, sort_keys=True).encode(),
                                 if_generation=got.generation if got is not None else 0)  # fmt: skip
                return
            except ConflictError:
                continue
        raise ConflictError(f"the roll record {key} keeps changing: is another rolling-update running?")
