"""Store errors as types; the gateway maps them to HTTP in one place."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every store failure."""


class DatabaseUnreachable(StoreError):
    """The configured database could not be reached at start (message never holds a password)."""


class NotFound(StoreError):
    """No row with that id in the caller's tenant (another tenant's row looks exactly like this)."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident
