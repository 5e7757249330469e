"""The uploaded bytes, kept by content hash per tenant, so a job (in this process or a worker) can parse
them later and a collection can be re-indexed. Written atomically (temp file + rename)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from nexus.rag.records import namespace


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, tenant: str, digest: str) -> Path:
        return self.root / namespace(tenant, "") / digest[:2] / digest

    def put(self, tenant: str, data: bytes) -> str:
        digest = content_hash(data)
        path = self._path(tenant, digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return digest

    def get(self, tenant: str, digest: str) -> bytes:
        return self._path(tenant, digest).read_bytes()

    def delete(self, tenant: str, digest: str) -> None:
        self._path(tenant, digest).unlink(missing_ok=True)
