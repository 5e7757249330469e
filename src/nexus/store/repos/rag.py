"""Collections and files of the documents area; tenant-scoped through Repository.scoped like the rest."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func

from nexus.store.models import utcnow
from nexus.store.models_rag import RagCollection, RagFile
from nexus.store.repos.base import Repository, clamp_limit


class RagCollections(Repository[RagCollection]):
    model = RagCollection
    kind = "collection"

    async def create(
        self, name: str, *, embedder: str = "", dim: int = 0, meta: dict[str, Any] | None = None
    ) -> RagCollection:
        return await self.add(
            id="vs_" + uuid.uuid4().hex, name=name, embedder=embedder, dim=dim, meta=meta or {}
        )

    async def by_name(self, name: str) -> RagCollection | None:
        stmt = self.select().where(RagCollection.name == name).order_by(RagCollection.created_at).limit(1)
        found = await self.all(stmt)
        return found[0] if found else None

    async def list(self, *, limit: int | None = None) -> Sequence[RagCollection]:
        stmt = self.select().order_by(RagCollection.created_at.desc(), RagCollection.id)
        return await self.all(stmt.limit(clamp_limit(limit)))

    async def set_embedder(self, collection_id: str, embedder: str, dim: int) -> int:
        stmt = self.update().where(RagCollection.id == collection_id)
        return await self.run(stmt.values(embedder=embedder, dim=dim, updated_at=utcnow()))

    async def update_fields(
        self, collection_id: str, *, name: str | None = None, meta: dict[str, Any] | None = None
    ) -> int:
        values: dict[str, Any] = {"updated_at": utcnow()}
        if name is not None:
            values["name"] = name
        if meta is not None:
            values["meta"] = meta
        return await self.run(self.update().where(RagCollection.id == collection_id).values(**values))

    async def touch(self, collection_id: str) -> int:
        return await self.run(
            self.update().where(RagCollection.id == collection_id).values(updated_at=utcnow())
        )

    async def remove(self, collection_id: str) -> int:
        # Files go first: SQLite only cascades with foreign keys on, and the intent should not depend on it.
        await RagFiles(self._sessions, self.scope).run(
            RagFiles(self._sessions, self.scope).delete().where(RagFile.collection_id == collection_id)
        )
        return await self.run(self.delete().where(RagCollection.id == collection_id))


class RagFiles(Repository[RagFile]):
    model = RagFile
    kind = "file"

    async def create(
        self,
        collection_id: str,
        *,
        filename: str,
        content_hash: str,
        size: int,
        meta: dict[str, Any] | None = None,
        file_id: str | None = None,
    ) -> RagFile:
        return await self.add(
            id=file_id or "file-" + uuid.uuid4().hex,
            collection_id=collection_id,
            filename=filename,
            content_hash=content_hash,
            bytes=size,
            status="in_progress",
            meta=meta or {},
        )

    async def by_hash(self, collection_id: str, content_hash: str) -> RagFile | None:
        stmt = self.select().where(
            RagFile.collection_id == collection_id, RagFile.content_hash == content_hash
        )
        found = await self.all(stmt.limit(1))
        return found[0] if found else None

    async def in_collection(self, collection_id: str, file_id: str) -> RagFile | None:
        stmt = self.select().where(RagFile.collection_id == collection_id, RagFile.id == file_id)
        found = await self.all(stmt.limit(1))
        return found[0] if found else None

    async def list(
        self, collection_id: str, *, status: str | None = None, limit: int | None = None
    ) -> Sequence[RagFile]:
        stmt = self.select().where(RagFile.collection_id == collection_id)
        if status:
            stmt = stmt.where(RagFile.status == status)
        return await self.all(stmt.order_by(RagFile.created_at, RagFile.id).limit(clamp_limit(limit, 1000)))

    async def counts(self, collection_id: str) -> dict[str, int]:
        stmt = (
            self.select(RagFile.status, func.count())
            .where(RagFile.collection_id == collection_id)
            .group_by(RagFile.status)
        )
        return {status: int(n) for status, n in await self.rows(stmt)}

    async def update_status(self, file_id: str, **values: Any) -> int:
        values["updated_at"] = utcnow()
        return await self.run(self.update().where(RagFile.id == file_id).values(**values))

    async def remove(self, file_id: str) -> int:
        return await self.run(self.delete().where(RagFile.id == file_id))
