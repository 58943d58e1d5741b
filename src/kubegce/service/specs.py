"""Storing specs: `create -f` (new clusters) and `replace -f` (existing ones, with conflict
detection: every write is conditional on the generation read, so a concurrent change is refused)."""

from __future__ import annotations

from kubegce.errors import ConflictError, NotFoundError, UserError
from kubegce.images.catalog import Catalog
from kubegce.service.cluster import check_spec
from kubegce.spec.defaults import apply_defaults
from kubegce.spec.models import ClusterBundle
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


def replace_clusters(repo: ClusterRepository, bundles: list[ClusterBundle], catalog: Catalog, *,
                     force: bool = False) -> tuple[list[str], list[str]]:  # fmt: skip
    """Replace stored clusters with the given documents: the cluster object, and each instance group
    the input names (new ones are created, groups the input does not name are kept). Every bundle is
    validated as a whole first. Returns (warnings, what changed: one line per object)."""
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
        groups = [given.pop(g.name, g) for g in stored.bundle.instance_groups] + list(given.values())
        new = apply_defaults(ClusterBundle(cluster=bundle.cluster, instance_groups=groups))
        warnings.extend(check_spec(new, catalog, force=force))
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
