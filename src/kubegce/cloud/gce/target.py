"""The Compute API target: find what a cluster owns, apply a plan, delete a cluster.

A façade over three jobs, each in its own module: `api` (calls, retries, operation waits),
`find` (a cluster's resources, owned and colliding) and `tasks` (a plan as executor tasks).
What a kind needs from each of them lives in `kubegce.cloud.kinds`.
"""

from __future__ import annotations

import random
from typing import Any

from kubegce.cloud.executor import Progress, Task, TaskResult, execute
from kubegce.cloud.gce import find as find_mod
from kubegce.cloud.gce import tasks as tasks_mod
from kubegce.cloud.gce.api import CollisionError, GceApi, OperationError
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.gce.find import PAGE_SIZE, Found
from kubegce.cloud.graph import ResourceGraph, ResourceKey
from kubegce.cloud.names import owner_description
from kubegce.cloud.planner import Change, Plan

__all__ = ["PAGE_SIZE", "CollisionError", "Found", "GceTarget", "OperationError"]


class GceTarget:
    def __init__(self, clients: ComputeClients, project: str, cluster_name: str, *,
                 deadline_s: float = 600.0, rng: random.Random | None = None, backoff_s: float = 0.2) -> None:  # fmt: skip
        self.cluster_name = cluster_name
        self.marker = owner_description(cluster_name)
        self.api = GceApi(clients, project, self.marker, cluster_name,
                          deadline_s=deadline_s, rng=rng, backoff_s=backoff_s)  # fmt: skip

    @property
    def clients(self) -> ComputeClients:
        return self.api.clients

    @property
    def project(self) -> str:
        return self.api.project

    def is_retryable(self, exc: BaseException) -> bool:
        return self.api.is_retryable(exc)

    def find(self) -> Found:
        return find_mod.find(self.api, self.cluster_name)

    def create(self, key: ResourceKey, body: dict[str, Any]) -> None:
        self.api.create(key, body)

    def get(self, key: ResourceKey) -> dict[str, Any] | None:
        return self.api.get(key)

    def delete(self, key: ResourceKey) -> None:
        self.api.delete(key)

    def update(self, change: Change) -> None:
        self.api.update(change)

    def tasks_for(self, plan: Plan, desired: ResourceGraph | None = None) -> list[Task]:
        return tasks_mod.tasks_for(self.api, plan)

    def apply(self, plan: Plan, desired: ResourceGraph, parallelism: int, progress: Progress | None = None
              ) -> list[TaskResult]:  # fmt: skip
        return execute(self.tasks_for(plan), parallelism, progress)
