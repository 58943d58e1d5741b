"""`kubegce demo`: the main job on the built-in emulator. Creates a cluster whose groups boot from
different image families, applies it, waits for every node to report its boot, and shows which
channel each node used. Everything runs against 127.0.0.1; node boots are simulated (see
docs/emulator.md)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kubegce import service
from kubegce.cloud.gce.instances import InstanceView, list_instances
from kubegce.defaults import DEFAULT_IMAGE
from kubegce.images.catalog import Catalog
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.spec.models import (
    BootstrapSpec,
    ClusterBundle,
    InstanceGroup,
    InstanceGroupSpec,
    ObjectMeta,
    Role,
    UserDataPart,
)
from kubegce.state.clusters import ClusterRepository
from kubegce.state.store import FileStateStore

if TYPE_CHECKING:
    from kubegce.cloud.gce.target import GceTarget
    from kubegce.kube.client import KubeClient

DEMO_CLUSTER = "demo.example.com"
DEMO_PROJECT = "kubegce-demo"

EXTRA_CLOUD_CONFIG = """#cloud-config
write_files:
  - path: /etc/motd
    content: "managed by kubegce\\n"
runcmd:
  - [sh, -c, "echo extra cloud-config ran > /var/log/kubegce-extra.log"]
"""


def demo_bundle() -> ClusterBundle:
    bundle = bundle_from_options(
        CreateClusterOptions(
            name=DEMO_CLUSTER,
            project=DEMO_PROJECT,
            zones=["us-central1-a", "us-central1-b"],
            image=DEFAULT_IMAGE,
            node_image="rocky-linux-cloud/rocky-linux-9",
            node_count=2,
        )
    )
    bundle.instance_groups += [
        InstanceGroup(
            metadata=ObjectMeta(name="nodes-debian"),
            spec=InstanceGroupSpec(
                role=Role.NODE,
                image="debian-cloud/debian-12",
                min_size=1,
                max_size=1,
                zones=["us-central1-a"],
                bootstrap=BootstrapSpec(
                    install_cloud_init=True,
                    additional_user_data=[
                        UserDataPart(name="motd.cfg", type="text/cloud-config", content=EXTRA_CLOUD_CONFIG)
                    ],  # fmt: skip
                ),
            ),
        ),
        InstanceGroup(
            metadata=ObjectMeta(name="nodes-coreos"),
            spec=InstanceGroupSpec(
                role=Role.NODE,
                image="fedora-coreos-cloud/fedora-coreos-stable",
                min_size=1,
                max_size=1,
                zones=["us-central1-b"],
            ),  # fmt: skip
        ),
    ]
    return bundle


def log_plan(changes: service.ClusterChangeSet, log: Callable[[str], None]) -> None:
    """The plan as `kubegce update` prints it: each group's boot channel and why, then the diff."""
    from kubegce.cloud.planner import render_plan

    log("boot channels (why each group boots the way it does):")
    for g in changes.boot.groups:
        os_label = g.image.profile.label if g.image.profile else "unknown OS"
        log(f"  {g.group.name}: {g.image.ref} ({os_label}) -> {g.decision.metadata_channel}: {g.decision.reason}")
    for line in render_plan(changes.diff).splitlines():
        log(line)


def once(log: Callable[[str], None]) -> Callable[[str], None]:
    """A log that drops a line equal to the one before it (a polling loop says each state once)."""
    last: list[str] = []

    def say(message: str) -> None:
        if last != [message]:
            last[:] = [message]
            log(message)

    return say


@dataclass
class DemoResult:
    state_dir: Path
    endpoint: str
    errors: list[str]
    instances: list[InstanceView]
    rerun_changes: int
    rolled: dict[str, int] = field(default_factory=dict)  # instances each group's rolling update replaced
    new_machine_type: str = ""


def run_demo(endpoint: str, state_dir: Path | None, log: Callable[[str], None], wait_s: float = 60.0,
             progress: Callable[[int], service.ApplyProgress] = lambda total: service.ApplyProgress(),
             kube: KubeClient | None = None, roll: bool = True) -> DemoResult:  # fmt: skip
    """Create (once), plan, apply, wait for the nodes, re-plan; then (``roll``) change the node
    group's machine type, apply, and roll the cluster (draining through ``kube`` when given).
    ``progress`` makes what shows an apply of that many changes."""
    state_dir = state_dir or Path(tempfile.mkdtemp(prefix="kubegce-demo-"))
    repo = ClusterRepository(FileStateStore(state_dir))
    bundle = demo_bundle()
    if DEMO_CLUSTER not in repo.names():
        repo.create(bundle)
    log(f"cluster spec {DEMO_CLUSTER} in file://{state_dir}")
    catalog = Catalog.load()
    target = service.connect(endpoint, DEMO_PROJECT, DEMO_CLUSTER)
    changes = service.plan(bundle, catalog, target=target)
    log_plan(changes, log)
    results = service.apply(target, changes, progress=progress(len(changes.diff.changes)))
    errors = [f"{r.label}: {r.error}" for r in results if not r.ok]
    deadline = time.monotonic() + wait_s
    views: list[InstanceView] = []
    say_once = once(log)
    while time.monotonic() < deadline:
        views = list_instances(target.clients, DEMO_PROJECT, DEMO_CLUSTER)
        settled = [v for v in views if v.phase in ("joined", "failed")]
        say_once(f"waiting for nodes to report: {len(settled)}/{len(views)} finished booting")
        if views and len(settled) == len(views):
            break
        time.sleep(1.0)
    rerun = service.plan(bundle, catalog, target=target)
    result = DemoResult(state_dir, endpoint, errors, views, len(rerun.diff.changes))
    if roll and not errors:
        roll_new_machine_type(result, repo, catalog, target, log, kube, progress)
    return result


def roll_new_machine_type(result: DemoResult, repo: ClusterRepository, catalog: Catalog, target: GceTarget,
                          log: Callable[[str], None], kube: KubeClient | None,
                          progress: Callable[[int], service.ApplyProgress]) -> None:  # fmt: skip
    """Day 2: a new machine type for the node group, applied, then the rolling update."""
    from kubegce.service import rolling

    stored = repo.get(DEMO_CLUSTER)
    bundle = stored.bundle
    group = next(g for g in bundle.instance_groups if g.name == "nodes")
    new_type = "e2-standard-4" if group.spec.machine_type != "e2-standard-4" else "e2-standard-2"
    log(f"day 2: group nodes machine type {group.spec.machine_type} -> {new_type}")
    group.spec.machine_type = new_type
    repo.save_group(stored, group)
    changes = service.plan(bundle, catalog, target=target)
    service.apply(target, changes, parallelism=8, progress=progress(len(changes.diff.changes)))
    settings = rolling.Settings(post_drain_delay_s=0.0, poll_s=0.5, cloudonly=kube is None)
    roller = rolling.Roller(target, bundle, kube=kube, store=repo.store, settings=settings, log=log)
    result.rolled = rolling.rolling_update(roller, rolling.select_groups(bundle, []))
    result.new_machine_type = new_type
    result.instances = list_instances(target.clients, DEMO_PROJECT, DEMO_CLUSTER)
