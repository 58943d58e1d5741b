"""Read image resources through the Compute API so custom images can be placed by license/family."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from kubegce.cloud.gce.client import ComputeClients
from kubegce.images.catalog import ImageInfo


class ComputeImageReader:
    def __init__(self, clients: ComputeClients) -> None:
        self.clients = clients

    @classmethod
    def create(cls, endpoint: str | None) -> ComputeImageReader:
        return cls(ComputeClients.create(endpoint))

    @staticmethod
    def _info(project: str, image: dict[str, Any]) -> ImageInfo:
        return ImageInfo(project=project, name=str(image.get("name", "")), family=str(image.get("family") or ""),
                         licenses=tuple(str(x) for x in image.get("licenses") or ()))  # fmt: skip

    def _read(self, project: str, path: str) -> ImageInfo | None:
        try:
            return self._info(project, self.clients.rest("GET", f"projects/{project}/global/images/{path}"))
        except self.clients.not_found:
            return None

    def get_image(self, project: str, name: str) -> ImageInfo | None:
        return self._read(quote(project, safe=""), quote(name, safe=""))

    def get_from_family(self, project: str, family: str) -> ImageInfo | None:
        return self._read(quote(project, safe=""), f"family/{quote(family, safe='')}")
