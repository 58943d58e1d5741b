"""Read image resources through the Compute API so custom images can be placed by license/family."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.gce.client import ComputeClients
from kubegce.images.catalog import ImageInfo


class ComputeImageReader:
    def __init__(self, clients: ComputeClients) -> None:
        self.clients = clients

    @classmethod
    def create(cls, endpoint: str | None) -> ComputeImageReader:
        return cls(ComputeClients.create(endpoint))

    @staticmethod
    def _info(project: str, image: Any) -> ImageInfo:
        return ImageInfo(project=project, name=image.name, family=image.family or "", licenses=tuple(image.licenses))

    def get_image(self, project: str, name: str) -> ImageInfo | None:
        try:
            return self._info(project, self.clients.images.get(project=project, image=name))
        except self.clients.not_found:
            return None

    def get_from_family(self, project: str, family: str) -> ImageInfo | None:
        try:
            return self._info(project, self.clients.images.get_from_family(project=project, family=family))
        except self.clients.not_found:
            return None
