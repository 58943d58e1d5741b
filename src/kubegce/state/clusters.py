"""Clusters in a state store: one folder per cluster, spec documents with their generations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import yaml
from pydantic import ValidationError

from kubegce.errors import ConflictError, NotFoundError, SpecError, UserError
from kubegce.spec import yamlio
from kubegce.spec.loader import validation_problems
from kubegce.spec.models import Cluster, ClusterBundle, InstanceGroup
from kubegce.state.base import StateStore, conflict_error
from kubegce.state.layout import (
    ROLES,
    cluster_key,
    cluster_of,
    cluster_prefix,
    cluster_secrets_key,
    group_key,
    groups_prefix,
    is_cluster_key,
    is_secret_key,
    role_secrets_key,
)
from kubegce.state.pki import ClusterSecrets, new_token, role_bundle


@dataclass
class StoredBundle:
    bundle: ClusterBundle
    cluster_generation: int
    group_generations: dict[str, int] = field(default_factory=dict)
    edited_group: InstanceGroup | None = None  # set by an edit of one group: what to write


DAMAGED = (
    "the object in the state store is damaged or was not written by kubegce; restore it from a backup "
    "(gs:// object versions), or remove that key from the store by hand"
)


class StaleDocumentError(ConflictError):
    """A document given to `replace` was read before the stored object last changed (exit 3)."""


def _object_name(key: str) -> str:
    """``cluster NAME`` or ``instancegroup NAME/GROUP`` for a cluster's store key."""
    cluster, _, rest = key.partition("/")
    kind, _, group = rest.partition("/")
    return f"instancegroup {cluster}/{group}" if kind == "instancegroup" else f"cluster {cluster}"


def _dump(model: Cluster | InstanceGroup) -> bytes:
    return yaml.safe_dump(model.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False).encode()


class ClusterRepository:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def names(self) -> list[str]:
        return sorted({cluster_of(k) for k in self.store.list("") if is_cluster_key(k)})

    def get(self, name: str) -> StoredBundle:
        obj = self.store.read(cluster_key(name))
        if obj is None:
            known = self.names()
            hint = f"; clusters here: {', '.join(known)}" if known else ""
            raise NotFoundError(f"cluster {name!r} not found in {self.store.url}{hint}")
        problems: list[str] = []
        cluster = self._parse(Cluster, obj.data, f"state {name}/cluster", problems)
        groups = []
        gens = {}
        for key in self.store.list(groups_prefix(name)):
            g_obj = self.store.read(key)
            if g_obj is None:
                continue
            g = self._parse(InstanceGroup, g_obj.data, f"state {key}", problems)
            if g is not None:
                groups.append(g)
                gens[g.name] = g_obj.generation
        if problems or cluster is None:
            raise SpecError(problems)
        assert isinstance(cluster, Cluster)
        typed_groups = [g for g in groups if isinstance(g, InstanceGroup)]
        return StoredBundle(ClusterBundle(cluster=cluster, instance_groups=typed_groups), obj.generation, gens)

    @staticmethod
    def _parse(
        model: type[Cluster] | type[InstanceGroup], data: bytes, where: str, problems: list[str]
    ) -> Cluster | InstanceGroup | None:
        """A stored object read with the same bounds as a user's file (size, depth, aliases,
        encoding): the store is not trusted more than a spec file, so a hostile or damaged
        object gives a message naming its key, never a hang or a traceback."""
        try:
            docs = yamlio.load_all(yamlio.decode_text(data, where), where)
        except UserError as exc:
            problems.append(f"{exc}; {DAMAGED}")
            return None
        if len(docs) != 1 or not isinstance(docs[0], dict):
            found = f"{len(docs)} YAML documents" if len(docs) != 1 else f"a {type(docs[0]).__name__}"
            problems.append(f"{where}: holds {found}, not one {model.__name__} mapping; {DAMAGED}")
            return None
        try:
            return model.model_validate(docs[0])
        except ValidationError as exc:
            problems.extend(validation_problems(exc, model, where))
            return None

    def create(self, bundle: ClusterBundle) -> list[str]:
        """Store a new cluster; the warnings. Objects left under the name by an interrupted
        delete (no cluster object: secrets, node objects, groups) are removed first, so a new
        cluster never adopts another cluster's CA or join token."""
        name = bundle.cluster.name
        if self.store.read(cluster_key(name)) is not None:
            raise UserError(
                f"cluster {name!r} already exists in {self.store.url}; "
                "change it with `kubegce edit cluster` or remove it with `kubegce delete cluster`"
            )
        warnings: list[str] = []
        leftovers = self.store.list(cluster_prefix(name))
        if leftovers:
            warnings.append(
                f"{self.store.url} held {len(leftovers)} object(s) of an earlier cluster {name!r} with no "
                "cluster object (an interrupted delete or create); removed them, secrets included, so the "
                "new cluster gets its own CA and join token"
            )
            for key in leftovers:
                self.store.delete(key)
        for g in bundle.instance_groups:
            self.store.write(group_key(name, g.name), _dump(g), if_generation=0)
        # The cluster object goes last: a cluster is visible only once it is whole.
        self.store.write(cluster_key(name), _dump(bundle.cluster), if_generation=0)
        return warnings

    def save_cluster(self, stored: StoredBundle) -> None:
        """Write the cluster object if no object of the cluster changed since ``stored`` was read."""
        c = stored.bundle.cluster
        stored.cluster_generation = self.store.write(
            cluster_key(c.name), _dump(c), if_generation=stored.cluster_generation
        )

    def save_group(self, stored: StoredBundle, group: InstanceGroup) -> None:
        """Write one group if no object of the cluster changed since ``stored`` was read.

        The cluster object carries the cluster-level generation: every group write first rewrites
        it (same content) conditionally on the generation read, so two edits of different objects
        of one cluster, each valid alone, cannot combine into a spec nobody validated."""
        name = stored.bundle.cluster.name
        current = self.store.read(cluster_key(name))
        if current is None or current.generation != stored.cluster_generation:
            raise conflict_error(cluster_key(name), current)
        stored.cluster_generation = self.store.write(
            cluster_key(name), current.data, if_generation=stored.cluster_generation
        )
        gen = stored.group_generations.get(group.name, 0)
        stored.group_generations[group.name] = self.store.write(
            group_key(name, group.name), _dump(group), if_generation=gen
        )

    def check_versions(self, stored: StoredBundle, versions: dict[str, int | None], source: str) -> None:
        """Refuse documents that are older than what is stored, or carry no version.

        ``versions`` maps the store key of each given document (cluster or group) to the
        ``metadata.resourceVersion`` it carried (None: none). Each must equal the generation
        ``stored`` was read at; the writes that follow are conditional on those generations, so a
        change that lands after this check is refused by the write itself."""
        name = stored.bundle.cluster.name
        for key, given in sorted(versions.items()):
            what = _object_name(key)
            if given is None:
                raise UserError(
                    f"{source}: the {what} document has no metadata.resourceVersion, so replace cannot tell "
                    f"whether it would undo later changes; start from `kubegce get cluster {name} -o yaml` "
                    "(which prints it), or add --force to replace what is stored anyway; nothing written"
                )
            if key == cluster_key(name):
                have = stored.cluster_generation
            else:
                have = stored.group_generations.get(key.rsplit("/", 1)[-1], 0)
            if given != have:
                current = self.store.read(key)
                by = f" (last written by {current.updated_by} at {current.updated_at})" if current else ""
                raise StaleDocumentError(
                    f"{source}: {what} changed since that document was read: resourceVersion {given} in the "
                    f"file, {have} in the store{by}; nothing written. Get it again (`kubegce get cluster {name} "
                    "-o yaml`), make your change there and replace that, or add --force to overwrite the later "
                    "changes"
                )

    def delete(self, name: str) -> None:
        """Remove every object of the cluster, the cluster object LAST: an interrupted delete
        leaves a cluster `delete cluster` can still find and finish."""
        for key in self.store.list(cluster_prefix(name)):
            if key != cluster_key(name):
                self.store.delete(key)
        self.store.delete(cluster_key(name))

    # ------------------------------------------------------------------ secrets and node objects
    def read_secrets(self, name: str) -> tuple[ClusterSecrets, int] | None:
        key = cluster_secrets_key(name)
        obj = self.store.read(key)
        if obj is None:
            return None
        try:
            return ClusterSecrets.from_json(obj.data), obj.generation
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise UserError(
                f"state {key}: the cluster's secrets cannot be read ({type(exc).__name__}); {DAMAGED}"
            ) from None

    def ensure_secrets(self, name: str) -> ClusterSecrets:
        """The cluster's secrets, generated on first use; a join token close to expiry is refreshed."""
        current = self.read_secrets(name)
        if current is None:
            fresh = ClusterSecrets.generate()
            try:
                self.store.write(cluster_secrets_key(name), fresh.to_json(), if_generation=0, secret=True)
                return fresh
            except ConflictError:  # generated concurrently: use the one that won
                current = self.read_secrets(name)
                assert current is not None
        secrets_, generation = current
        if secrets_.token_expired():
            return self.rotate_token(name)
        return secrets_

    def require_secrets(self, name: str) -> tuple[ClusterSecrets, int]:
        current = self.read_secrets(name)
        if current is None:
            raise NotFoundError(f"cluster {name} has no secrets yet; `kubegce update cluster {name} --yes` makes them")
        return current

    def rotate_token(self, name: str, ttl: dt.timedelta | None = None) -> ClusterSecrets:
        secrets_, generation = self.require_secrets(name)
        secrets_.token = new_token(ttl or secrets_.token_ttl)  # a refresh keeps the lifetime asked for
        self.store.write(cluster_secrets_key(name), secrets_.to_json(), if_generation=generation, secret=True)
        return secrets_

    def publish_node_objects(self, name: str, objects: dict[str, bytes], secrets_: ClusterSecrets,
                             api_server: str) -> list[str]:  # fmt: skip
        """Write what nodes fetch at boot: each group's config and each role's secrets bundle."""
        written = []
        wanted = dict(objects)
        for role in ROLES:
            wanted[role_secrets_key(name, role)] = role_bundle(secrets_, role, name, api_server)
        for key, data in sorted(wanted.items()):
            current = self.store.read(key)
            if current is not None and current.data == data:
                continue
            self.store.write(key, data, if_generation=current.generation if current else 0,
                             secret=is_secret_key(key))  # fmt: skip
            written.append(key)
        return written
