"""Alembic migrations, run programmatically by nexus.store.migrate (no alembic.ini needed)."""
