"""One session per chat (per tenant), the chat's pinned model and its last request, kept in the store
so they survive a restart and are shared by every gateway process serving the webhook."""

from __future__ import annotations

from dataclasses import dataclass

from nexus.service.sessions import new_session_id
from nexus.store import Store, TenantScope
from nexus.store.repos.ops import TelegramChats


@dataclass(frozen=True, slots=True)
class ChatState:
    session_id: str
    model: str | None = None
    last_request: str | None = None


class Chats:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _repo(self, tenant: str) -> TelegramChats:
        return TelegramChats(self.store.sessions, TenantScope(tenant, False))

    async def get(self, tenant: str, chat_id: int) -> ChatState:
        """The chat's state; its first message gets a session of its own."""
        row = await self._repo(tenant).state(chat_id)
        if row is not None and row.session_id:
            return ChatState(row.session_id, row.model, row.last_request)
        session = new_session_id()
        await self._repo(tenant).save(chat_id, session_id=session)
        return ChatState(session, row.model if row else None, row.last_request if row else None)

    async def new_session(self, tenant: str, chat_id: int) -> str:
        session = new_session_id()
        await self._repo(tenant).save(chat_id, session_id=session)
        return session

    async def pin(self, tenant: str, chat_id: int, model: str | None) -> None:
        await self.get(tenant, chat_id)
        await self._repo(tenant).save(chat_id, model=model)

    async def remember(self, tenant: str, chat_id: int, text: str) -> None:
        await self._repo(tenant).save(chat_id, last_request=text[:20_000])
