"""Chat sessions and their message history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, select

from nexus.store.models import ChatSession, Message, utcnow
from nexus.store.repos.base import Repository, clamp_limit


class Sessions(Repository[ChatSession]):
    model = ChatSession
    kind = "session"

    async def create(
        self, *, id: str | None = None, title: str = "", meta: dict[str, Any] | None = None
    ) -> ChatSession:
        return await self.add(id=id or uuid.uuid4().hex, title=title, meta=meta or {})

    async def list(self, *, limit: int | None = None) -> Sequence[ChatSession]:
        return await self.all(self.select().order_by(ChatSession.updated_at.desc()).limit(clamp_limit(limit)))

    async def touch(self, session_id: str) -> int:
        return await self.run(self.update().where(ChatSession.id == session_id).values(updated_at=utcnow()))

    async def claim(self, session_id: str) -> str:
        """The session's owning tenant, recording the caller's tenant as owner when it is new.

        Runs unscoped on purpose (a session id is global): the caller compares the owner with its own
        tenant, so another tenant's session reads as not found and is never joined."""
        table = cast(Table, ChatSession.__table__)
        values = {"id": session_id, "tenant_id": self.scope.tenant_id, "title": "", "meta": {}}
        async with self._sessions() as s, s.begin():
            dialect = (await s.connection()).dialect.name
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                stmt: Any = pg_insert(table).values(**values, created_at=utcnow(), updated_at=utcnow())
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                stmt = sqlite_insert(table).values(**values, created_at=utcnow(), updated_at=utcnow())
            await s.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
            owner = await s.execute(select(ChatSession.tenant_id).where(ChatSession.id == session_id))
            return str(owner.scalar_one())

    async def remove(self, session_id: str) -> int:
        return await self.run(self.delete().where(ChatSession.id == session_id))


class Messages(Repository[Message]):
    model = Message
    kind = "message"

    async def append(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        run_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Message:
        # The session must be visible to this tenant: another tenant's session is "not found".
        await Sessions(self._sessions, self.scope).get(session_id)
        return await self.add(
            session_id=session_id, role=role, content=content, run_id=run_id, meta=meta or {}
        )

    async def history(self, session_id: str, *, limit: int | None = None) -> Sequence[Message]:
        stmt = self.select().where(Message.session_id == session_id).order_by(Message.id)
        return await self.all(stmt.limit(clamp_limit(limit, 1000)))
