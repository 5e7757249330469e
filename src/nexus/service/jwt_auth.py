"""JWT bearer tokens as an alternative to API keys.

HS256 with a configured secret, or RS256/ES256 with a configured public key. The accepted algorithms
are fixed by configuration, never taken from the token, so `alg: none` and algorithm-confusion
tokens are refused. `exp` is required; `aud` is checked when configured.
"""

from __future__ import annotations

import re
from pathlib import Path

import jwt

from nexus.config.settings import Settings
from nexus.service.identity import DEFAULT_TENANT, ROLES, Principal

# The same shape an admin may give a tenant through the keys API. A tenant id is joined with other
# ids (e.g. the pipeline's "<tenant>:<session>" thread), so separators like ':' must not get in.
_TENANT = re.compile(r"[A-Za-z0-9._-]{1,128}")


class InvalidToken(Exception):
    """The token is not acceptable; the message is safe to show the client."""


class JWTVerifier:
    def __init__(self, settings: Settings) -> None:
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self.keys: list[tuple[str | bytes, list[str]]] = []
        if settings.jwt_secret:
            self.keys.append((settings.jwt_secret, ["HS256"]))
        if settings.jwt_public_key:
            pem = settings.jwt_public_key
            if not pem.lstrip().startswith("-----BEGIN") and Path(pem).is_file():
                pem = Path(pem).read_text(encoding="utf-8")
            algs = ["ES256"] if "EC" in pem.split("\n", 1)[0] or _is_ec(pem) else ["RS256"]
            self.keys.append((pem, algs))

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def verify(self, token: str) -> Principal:
        if not self.keys:
            raise InvalidToken("JWT authentication is not configured on this server.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("Malformed bearer token.") from None
        alg = str(header.get("alg", ""))
        for key, algs in self.keys:
            if alg not in algs:
                continue
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=algs,
                    audience=self.audience,
                    issuer=self.issuer,
                    options={"require": ["exp"], "verify_aud": self.audience is not None},
                )
            except jwt.ExpiredSignatureError:
                raise InvalidToken("The token has expired.") from None
            except jwt.InvalidAudienceError:
                raise InvalidToken("The token's audience is not accepted.") from None
            except jwt.PyJWTError:
                raise InvalidToken("The token's signature or claims are invalid.") from None
            return _principal(claims)
        raise InvalidToken(f"Token algorithm {alg!r} is not accepted.")


def _is_ec(pem: str) -> bool:
    try:
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        return isinstance(load_pem_public_key(pem.encode()), ec.EllipticCurvePublicKey)
    except Exception:
        return False


def _principal(claims: dict[str, object]) -> Principal:
    tenant = claims.get("tenant") or claims.get("tid") or DEFAULT_TENANT
    role = claims.get("role", "member")
    if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):
        raise InvalidToken("The token's tenant claim is invalid.")
    if role not in ROLES:
        raise InvalidToken("The token's role claim is invalid.")
    sub = claims.get("sub")
    return Principal(tenant_id=tenant, role=role, subject=str(sub) if sub else "jwt", via="jwt")  # type: ignore[arg-type]
