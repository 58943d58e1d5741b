"""gs://bucket/prefix state store through google-cloud-storage (STORAGE_EMULATOR_HOST honoured).

Every write is conditional on the object's generation (`if_generation_match`; 0 = must not exist)
and goes as one non-resumable upload, so two writers cannot both win and a reader never sees half
an object.
"""

from __future__ import annotations

import os
import re
import secrets
from typing import Any
from urllib.parse import quote

from kubegce.errors import ConflictError, UserError
from kubegce.net import EndpointSilent, EndpointUnreachable, check_endpoint, guard_session
from kubegce.state.base import DirUrls, Versioned, checked_key, conflict_error, whoami

UPDATED_BY = "kubegce-updated-by"
WRITE_ID = "kubegce-write-id"  # random per write: tells a write that landed from another with the same content
DEADLINE_S = 30.0  # how long a call retries an unreachable store before saying so
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


class StoreDidNotAnswer(UserError):
    """The store took a request and gave no answer in time: a write's outcome is not known yet."""

    exit_code = 1


class GcsStateStore:
    nodes_can_read = True

    def __init__(self, bucket: str, prefix: str) -> None:
        from google.api_core import exceptions
        from google.cloud import storage  # type: ignore[attr-defined, unused-ignore]

        if not BUCKET_RE.fullmatch(bucket):
            raise UserError(
                f"state store gs://{bucket[:80]}: not a bucket name (3-222 characters: lowercase letters, "
                "digits, '-', '_' and '.', starting and ending with a letter or digit)"
            )
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.url = f"gs://{bucket}/{self.prefix}" if self.prefix else f"gs://{bucket}"
        self.emulator = os.environ.get("STORAGE_EMULATOR_HOST", "").strip()
        if self.emulator:
            self.emulator = check_endpoint(self.emulator, "STORAGE_EMULATOR_HOST")
        self.api = self.emulator or "https://storage.googleapis.com"  # what nodes' URLs point at
        if self.emulator:
            from google.auth.credentials import AnonymousCredentials

            self.client = storage.Client(project="kubegce", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                                         client_options={"api_endpoint": self.emulator})  # fmt: skip
        else:
            from google.auth.exceptions import DefaultCredentialsError

            try:
                self.client = storage.Client()
            except DefaultCredentialsError as exc:  # no credentials: say how to get them
                raise UserError(
                    f"state store {self.url}: no Google credentials ({exc}); run "
                    "`gcloud auth application-default login`"
                ) from None
        guard_session(self.client._http, self.api, "Cloud Storage")
        self.bucket = self.client.bucket(bucket)
        self._exc = exceptions
        from google.cloud.storage.retry import DEFAULT_RETRY

        self._retry = DEFAULT_RETRY.with_deadline(DEADLINE_S)

    def _name(self, key: str) -> str:
        key = checked_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def object_url(self, key: str) -> str:
        """HTTPS URL a node downloads the object from with its service-account token."""
        return f"{self.api}/storage/v1/b/{self.bucket_name}/o/{quote(self._name(key), safe='')}?alt=media"

    def _upload_url(self, key: str, upload_type: str) -> str:
        return f"{self.api}/upload/storage/v1/b/{self.bucket_name}/o?uploadType={upload_type}&name={quote(self._name(key), safe='')}"

    def upload_url(self, key: str) -> str:
        """URL a node uploads this object to (media upload) with its service-account token."""
        return self._upload_url(key, "media")

    def create_url(self, key: str) -> str:
        """URL a node creates this object at only if it does not exist (multipart upload with
        ifGenerationMatch=0: 412 when it does)."""
        return self._upload_url(key, "multipart") + "&ifGenerationMatch=0"

    def dir_urls(self, directory: str) -> DirUrls:
        name = quote(self._name(directory), safe="")
        return DirUrls(list=f"{self.api}/storage/v1/b/{self.bucket_name}/o?prefix={name}%2F",
                       object=f"{self.api}/storage/v1/b/{self.bucket_name}/o/{name}%2F",
                       upload=f"{self.api}/upload/storage/v1/b/{self.bucket_name}/o?uploadType=media&name={name}%2F")  # fmt: skip

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import requests

        kwargs.setdefault("retry", self._retry)
        kwargs.setdefault("timeout", DEADLINE_S)
        try:
            return fn(*args, **kwargs)
        except EndpointUnreachable as exc:
            raise EndpointUnreachable(f"state store {self.url}: {exc}") from None
        except EndpointSilent as exc:
            raise StoreDidNotAnswer(f"state store {self.url}: {exc}") from None
        except (self._exc.RetryError, requests.exceptions.ConnectionError, requests.exceptions.Timeout):
            raise StoreDidNotAnswer(
                f"state store {self.url}: {self.api} did not answer within {DEADLINE_S:g} s; check the "
                "network (or STORAGE_EMULATOR_HOST) and re-run"
            ) from None
        except self._exc.Forbidden as exc:
            raise UserError(
                f"state store {self.url}: permission denied ({exc.message}); see docs/state-store.md"
            ) from None
        except self._exc.NotFound as exc:
            if "bucket" in str(exc).lower() and "No such object" not in str(exc):
                raise UserError(f"state store {self.url}: bucket {self.bucket_name} does not exist; create it with "
                                f"`gcloud storage buckets create gs://{self.bucket_name}`") from None  # fmt: skip
            raise

    def read(self, key: str) -> Versioned | None:
        blob = self._call(self.bucket.get_blob, self._name(key))
        if blob is None:
            return None
        try:
            data = self._call(blob.download_as_bytes, if_generation_match=blob.generation)
        except (self._exc.PreconditionFailed, self._exc.NotFound):
            return self.read(key)  # changed between the two calls: read the new version
        meta = blob.metadata or {}
        updated = blob.updated.strftime("%Y-%m-%dT%H:%M:%SZ") if blob.updated else "?"
        return Versioned(data, int(blob.generation), meta.get(UPDATED_BY, "?"), updated)

    def write(self, key: str, data: bytes, *, if_generation: int, secret: bool = False) -> int:
        """A conditional write. Its outcome is settled even when the answer is lost: each write
        carries a random id in the object's metadata, so a write that landed but whose answer timed
        out (or whose retry, sent by the client library after a 5xx or a reset, then got 412
        against the write itself) is recognised by reading the object back. Content alone would not
        do: a group write rewrites the cluster object with the same content to move its generation."""
        write_id = secrets.token_hex(8)
        blob = self.bucket.blob(self._name(key))
        blob.metadata = {UPDATED_BY: whoami(), WRITE_ID: write_id}
        try:
            # small objects go as one multipart (non-resumable) upload: preconditions hold there
            self._call(blob.upload_from_string, data, content_type="application/octet-stream",
                       if_generation_match=if_generation)  # fmt: skip
        except self._exc.PreconditionFailed:
            generation, landed = self._written_by(key, write_id)
            if landed:
                return generation  # an earlier attempt of this same write landed
            raise conflict_error(key, self.read(key)) from None
        except StoreDidNotAnswer:
            generation, landed = self._written_by(key, write_id)  # (a timeout here too: the store is silent)
            if landed:
                return generation  # it landed; only the answer was lost
            if generation == if_generation:
                raise  # it did not land: nothing written
            current = self.read(key)
            raise ConflictError(
                f"{key}: the store did not answer the write and the object changed meanwhile"
                f"{f' (by {current.updated_by} at {current.updated_at})' if current else ' (deleted)'}; "
                "whether this write landed before that is not known: check with `kubegce get` and re-run"
            ) from None
        return int(blob.generation)

    def _written_by(self, key: str, write_id: str) -> tuple[int, bool]:
        """The object's generation now (0: none), and whether it is the write ``write_id``."""
        blob = self._call(self.bucket.get_blob, self._name(key))
        if blob is None:
            return 0, False
        return int(blob.generation), (blob.metadata or {}).get(WRITE_ID) == write_id

    def delete(self, key: str, *, if_generation: int | None = None) -> None:
        try:
            self._call(self.bucket.delete_blob, self._name(key), if_generation_match=if_generation)
        except self._exc.NotFound:
            return
        except self._exc.PreconditionFailed:
            raise conflict_error(key, self.read(key)) from None

    def list(self, prefix: str) -> list[str]:
        full = self._name(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        cut = len(self.prefix) + 1 if self.prefix else 0

        def listed(**kwargs: Any) -> list[str]:  # the iterator pages lazily: page inside _call
            return [b.name for b in self.client.list_blobs(self.bucket_name, prefix=full, **kwargs)]

        return sorted(name[cut:] for name in self._call(listed))
