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
    return NewKey(key_id=key_id, token=f"{KEY_PREFIX}{key_id}_{secret}", salt=salt, hash=hash_secret(salt, secret))


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
