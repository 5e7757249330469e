"""API keys: generated once, shown once, stored as a salted hash.

A key looks like `nx_<id>_<secret>`: the id finds the row, the 256-bit secret is checked against
HMAC-SHA256(salt, secret). A fast keyed hash is right here (unlike passwords) because the secret is
random and long; it keeps verification off the latency budget.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

KEY_PREFIX = "nx_"


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    token: str  # the full key, shown once
    salt: str
    hash: str

    @property
    def display_prefix(self) -> str:
        return self.token[: len(KEY_PREFIX) + len(self.key_id) + 5] + "…"


def hash_secret(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def generate_key() -> NewKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    return NewKey(
        key_id=key_id, token=f"{KEY_PREFIX}{key_id}_{secret}", salt=salt, hash=hash_secret(salt, secret)
    )


def split_token(token: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    if not token.startswith(KEY_PREFIX):
        return None
    rest = token[len(KEY_PREFIX) :]
    key_id, sep, secret = rest.partition("_")
    if not sep or len(key_id) != 12 or not secret or len(secret) > 128:
        return None
    try:
        bytes.fromhex(key_id)
    except ValueError:
        return None
    return key_id, secret


def verify_secret(salt: str, stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(hash_secret(salt, secret), stored_hash)


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    limit: float
    metric: str  # "cost" (USD) or "tokens"
    period: str  # "day" or "month"


def parse_budget(text: str) -> BudgetSpec:
    """`5/day` → $5 a day; `200000tok/month` → 200k tokens a month."""
    amount, sep, period = text.strip().lower().partition("/")
    if not sep or period not in ("day", "month"):
        raise ValueError("budget must look like '5/day' (USD) or '200000tok/month' (tokens)")
    metric = "cost"
    if amount.endswith(("tok", "tokens")):
        metric = "tokens"
        amount = amount.removesuffix("tokens").removesuffix("tok")
    amount = amount.removeprefix("$")
    try:
        value = float(amount)
    except ValueError:
        raise ValueError(f"budget amount {amount!r} is not a number") from None
    if value <= 0:
        raise ValueError("budget amount must be positive")
    return BudgetSpec(value, metric, period)


async def create_api_key(
    store: object,
    *,
    tenant: str,
    role: str,
    name: str = "",
    rpm: int | None = None,
    tpm: int | None = None,
    budget: BudgetSpec | None = None,
) -> tuple[str, Any]:
    """Create a key for a tenant (creating the tenant if new); returns (the key shown once, its row)."""
    from nexus.store import TenantScope

    system = TenantScope.system()
    await store.tenants(system).ensure(tenant)  # type: ignore[attr-defined]
    new = generate_key()
    scope = TenantScope(tenant, False)
    row = await store.api_keys(scope).create(  # type: ignore[attr-defined]
        name=name, role=role, key_hash=new.hash, salt=new.salt, prefix=new.key_id, rpm=rpm, tpm=tpm
    )
    if budget is not None:
        await store.budgets(scope).set(  # type: ignore[attr-defined]
            period=budget.period, metric=budget.metric, limit=budget.limit, hard=True, api_key_id=row.id
        )
    return new.token, row
