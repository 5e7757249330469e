"""Uploaded files (the OpenAI Files API's objects): bytes kept per tenant until deleted, independent of
any collection. Attaching an upload to a collection hands its bytes to `RagService.add_file`.

Kept on disk beside the other documents data (`<data_dir>/rag/uploads/<tenant namespace>/<id>.{json,bin}`),
written atomically; a tenant's uploads live under a directory named by a hash of the tenant, so one
tenant's id is simply not found in another's. Ids are `file-` + 24 hex digits.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from nexus.rag.records import namespace

UPLOAD_ID_CHARS = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    filename: str
    bytes: int
    purpose: str
    created_at: int  # Unix seconds, as the OpenAI API reports it


@dataclass(frozen=True, slots=True)
class Batch:
    """A vector-store file batch: which uploads were attached together (their state is the files')."""

    id: str
    store_id: str
    file_ids: list[str]
    created_at: int
    cancelled: bool = False


def new_upload_id() -> str:
    return "file-" + uuid.uuid4().hex[:24]


def _valid_id(file_id: str) -> bool:
    return file_id.startswith("file-") and len(file_id) == 29 and set(file_id[5:]) <= UPLOAD_ID_CHARS


class UploadStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _dir(self, tenant: str) -> Path:
        return self.root / namespace(tenant, "uploads")

    def _write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def put(self, tenant: str, data: bytes, filename: str, purpose: str) -> Upload:
        upload = Upload(new_upload_id(), filename, len(data), purpose, int(time.time()))
        d = self._dir(tenant)
        d.mkdir(parents=True, exist_ok=True)
        self._write(d / f"{upload.id}.bin", data)
        self._write(d / f"{upload.id}.json", json.dumps(asdict(upload)).encode())  # last: it publishes
        return upload

    def get(self, tenant: str, file_id: str) -> Upload | None:
        if not _valid_id(file_id):
            return None
        try:
            raw = (self._dir(tenant) / f"{file_id}.json").read_bytes()
        except FileNotFoundError:
            return None
        return Upload(**json.loads(raw))

    def content(self, tenant: str, file_id: str) -> bytes | None:
        if self.get(tenant, file_id) is None:
            return None
        try:
            return (self._dir(tenant) / f"{file_id}.bin").read_bytes()
        except FileNotFoundError:
            return None

    def list(self, tenant: str, *, purpose: str | None = None) -> list[Upload]:
        d = self._dir(tenant)
        if not d.exists():
            return []
        found: list[Upload] = []
        for meta in d.glob("file-*.json"):
            try:
                upload = Upload(**json.loads(meta.read_bytes()))
            except (FileNotFoundError, ValueError, TypeError):
                continue  # deleted meanwhile, or not ours
            if purpose is None or upload.purpose == purpose:
                found.append(upload)
        found.sort(key=lambda u: (-u.created_at, u.id))
        return found

    def delete(self, tenant: str, file_id: str) -> bool:
        if not _valid_id(file_id):
            return False
        d = self._dir(tenant)
        existed = (d / f"{file_id}.json").exists()
        (d / f"{file_id}.json").unlink(missing_ok=True)  # first: unpublish
        (d / f"{file_id}.bin").unlink(missing_ok=True)
        return existed

    def put_batch(self, tenant: str, batch: Batch) -> Batch:
        d = self._dir(tenant) / "batches"
        d.mkdir(parents=True, exist_ok=True)
        self._write(d / f"{batch.id}.json", json.dumps(asdict(batch)).encode())
        return batch

    def get_batch(self, tenant: str, batch_id: str) -> Batch | None:
        if not batch_id.startswith("vsfb_") or not set(batch_id[5:]) <= UPLOAD_ID_CHARS:
            return None
        try:
            return Batch(**json.loads((self._dir(tenant) / "batches" / f"{batch_id}.json").read_bytes()))
        except FileNotFoundError:
            return None

    def drop_tenant(self, tenant: str) -> None:
        shutil.rmtree(self._dir(tenant), ignore_errors=True)
