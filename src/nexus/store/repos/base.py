"""The one place where tenant scoping happens: every repository builds its statements through here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import ColumnElement, Delete, Select, Update, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus.store.errors import NotFound
from nexus.store.models import Base
from nexus.store.scope import TenantScope

M = TypeVar("M", bound=Base)
S = TypeVar("S", Select[Any], Update, Delete)

MAX_LIMIT = 1000


class Repository(Generic[M]):
    model: ClassVar[type[Base]]
    kind: ClassVar[str] = "row"
    # The column holding the owning tenant (the tenants table itself uses its primary key).
    tenant_attr: ClassVar[str] = "tenant_id"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], scope: TenantScope) -> None:
        self._sessions = sessions
        self.scope = scope

    @property
    def _tenant_col(self) -> ColumnElement[str]:
        col: ColumnElement[str] = getattr(self.model, self.tenant_attr)
        return col

    def scoped(self, stmt: S) -> S:
        """Add the tenant filter; a global admin sees every tenant."""
        if self.scope.is_global_admin:
            return stmt
        return stmt.where(self._tenant_col == self.scope.tenant_id)

    def select(self, *columns: Any) -> Select[Any]:
        return self.scoped(select(*(columns or (self.model,))))

    def update(self) -> Update:
        return self.scoped(update(self.model))

    def delete(self) -> Delete:
        return self.scoped(delete(self.model))

    def new(self, **values: Any) -> M:
        """A row owned by the caller's tenant unless the (admin) caller names another."""
        values.setdefault(self.tenant_attr, self.scope.tenant_id)
        if not self.scope.is_global_admin:
            values[self.tenant_attr] = self.scope.tenant_id
        return self.model(**values)  # type: ignore[return-value]

    async def find(self, ident: Any) -> M | None:
        pk = self.model.__mapper__.primary_key[0]
        async with self._sessions() as s:
            row: M | None = (await s.execute(self.select().where(pk == ident))).scalar_one_or_none()
            return row

    async def get(self, ident: Any) -> M:
        row = await self.find(ident)
        if row is None:
            raise NotFound(self.kind, str(ident))
        return row

    async def add(self, **values: Any) -> M:
        row = self.new(**values)
        async with self._sessions() as s, s.begin():
            s.add(row)
        return row

    async def all(self, stmt: Select[Any]) -> Sequence[M]:
        async with self._sessions() as s:
            return (await s.execute(stmt)).scalars().all()

    async def rows(self, stmt: Select[Any]) -> Sequence[Any]:
        async with self._sessions() as s:
            return (await s.execute(stmt)).all()

    async def run(self, stmt: Update | Delete) -> int:
        async with self._sessions() as s, s.begin():
            result = await s.execute(stmt)
            return int(getattr(result, "rowcount", 0) or 0)

    async def count(self) -> int:
        async with self._sessions() as s:
            return int((await s.execute(self.select(func.count()).select_from(self.model))).scalar_one())


def clamp_limit(limit: int | None, default: int = 100) -> int:
    if limit is None:
        return default
    return max(1, min(int(limit), MAX_LIMIT))
