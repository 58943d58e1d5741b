"""Storing specs: `create -f` (new clusters) and `replace -f` (existing ones, with conflict
detection: every write is conditional on the generation read, so a concurrent change is refused)."""

from __future__ import annotations

from kubegce.errors import ConflictError, NotFoundError, UserError
from kubegce.images.catalog import Catalog
from kubegce.service.cluster import check_spec
from kubegce.spec.defaults import apply_defaults
from kubegce.spec.models import ClusterBundle, InstanceGroup
from kubegce.state.clusters import ClusterRepository


def create_clusters(repo: ClusterRepository, bundles: list[ClusterBundle], catalog: Catalog, *,
                    force: bool = False) -> list[str]:  # fmt: skip
    """Validate every bundle, then store each as a new cluster; the warnings."""
    warnings: list[str] = []
    for bundle in bundles:  # validates everything before writing anything
        warnings.extend(check_spec(bundle, catalog, force=force, new_cluster=True))
    for bundle in bundles:
        warnings.extend(repo.create(bundle))
    return warnings


def add_groups(repo: ClusterRepository, cluster: str, groups: list[InstanceGroup], catalog: Catalog, *,
               force: bool = False) -> list[str]:  # fmt: skip
    """`create -f` of InstanceGroup documents of an existing cluster (as `kops create -f ig.yaml`):
    each group must be new; the whole cluster is validated with them first. The warnings."""
    stored = repo.get(cluster)
    have = {g.name for g in stored.bundle.instance_groups}
    for g in groups:
        if g.name in have:
            raise UserError(f"instancegroup {cluster}/{g.name} already exists; change it with `kubegce replace -f` "
                            f"or `kubegce edit instancegroup {cluster} {g.name}`")  # fmt: skip
    new = apply_defaults(ClusterBundle(cluster=stored.bundle.cluster,
                                       instance_groups=[*stored.bundle.instance_groups, *groups]))  # fmt: skip
    warnings = check_spec(new, catalog, force=force)
    added = {g.name for g in groups}
    for g in new.instance_groups:
        if g.name in added:
            repo.save_group(stored, g)  # generation 0: created only if nobody created it meanwhile
    return warnings


def replace_clusters(repo: ClusterRepository, bundles: list[ClusterBundle], catalog: Catalog, *,
                     force: bool = False, versions: dict[str, dict[str, int | None]] | None = None,
                     source: str = "replace -f") -> tuple[list[str], list[str]]:  # fmt: skip
    """Replace stored clusters with the given documents: the cluster object, and each instance group
    the input names (a group that is not stored is refused: `create -f` adds groups; groups the
    input does not name are kept). Every bundle is validated as a whole first. ``versions`` (per
    cluster, the metadata.resourceVersion of each given document by store key) are checked unless
    ``force``: an older or missing one is refused (see ClusterRepository.check_versions). Returns
    (warnings, what changed: one line per object)."""
    warnings: list[str] = []
    merged = []
    for bundle in bundles:
        name = bundle.cluster.name
        try:
            stored = repo.get(name)
        except NotFoundError:
            raise UserError(
                f"cluster {name!r} is not in {repo.store.url}; create it with `kubegce create -f`"
            ) from None
        given = {g.name: g for g in bundle.instance_groups}
        groups = [given.pop(g.name, g) for g in stored.bundle.instance_groups]
        if given:
            new_group = sorted(given)[0]
            raise NotFoundError(
                f"{source}: instancegroup {name}/{new_group} does not exist, and replace changes only what is "
                f"stored; add it with `kubegce create -f FILE` (its InstanceGroup document alone, labelled "
                f"kubegce.io/cluster: {name}); nothing written"
            )
        if versions is not None and not force:
            repo.check_versions(stored, versions.get(name, {}), source)
        new = apply_defaults(ClusterBundle(cluster=bundle.cluster, instance_groups=groups))
        warnings.extend(check_spec(new, catalog, force=force, previous=stored.bundle))
        merged.append((stored, new, {g.name for g in bundle.instance_groups}))
    changed: list[str] = []
    try:
        for stored, new, named in merged:
            name = new.cluster.name
            old_groups = {g.name: g for g in stored.bundle.instance_groups}
            for g in new.instance_groups:
                if g.name in named and old_groups.get(g.name) != g:
                    repo.save_group(stored, g)
                    changed.append(f"instancegroup {name}/{g.name}")
            if new.cluster != stored.bundle.cluster:
                stored.bundle = new
                repo.save_cluster(stored)
                changed.append(f"cluster {name}")
    except ConflictError as exc:
        if not changed:
            raise
        # one object at a time: say what is already in, so "re-run" does not read as "nothing written"
        raise ConflictError(
            f"{exc}; already replaced before that: {', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}. "
            "Re-run `kubegce replace -f` with the same files to finish"
        ) from None
    return warnings, changed
