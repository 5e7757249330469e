"""Persistence: SQLAlchemy models, Alembic migrations, tenant-scoped repositories, the accounting queue."""

from nexus.store.errors import DatabaseUnreachable, NotFound, StoreError
from nexus.store.migrate import upgrade, upgrade_sync
from nexus.store.queue import AccountingQueue, QueueClosed
from nexus.store.scope import DEFAULT_TENANT, TenantScope
from nexus.store.store import Store, open_store

__all__ = [
    "DEFAULT_TENANT",
    "AccountingQueue",
    "DatabaseUnreachable",
    "NotFound",
    "QueueClosed",
    "Store",
    "StoreError",
    "TenantScope",
    "open_store",
    "upgrade",
    "upgrade_sync",
]
