"""Auth bypass attempts against the real gateway: every one is a 401 in the OpenAI error shape."""

from __future__ import annotations

import base64
import time

import httpx
import jwt
import orjson
import pytest

from conftest import AUDIENCE, JWT_SECRET, Env
from nexus.service.keys import create_api_key


def _err(r: httpx.Response, status: int) -> dict[str, str]:
    assert r.status_code == status, r.text
    err: dict[str, str] = r.json()["error"]
    assert err["message"] and err["type"] and err["code"]
    return err


def _jwt(**claims: object) -> str:
    body = {"tenant": "acme", "role": "member", "aud": AUDIENCE, "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, JWT_SECRET, algorithm="HS256")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def _alg_none() -> str:
    claims = {"tenant": "acme", "role": "global_admin", "aud": AUDIENCE, "exp": int(time.time()) + 300}
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def _forged() -> str:
    return jwt.encode(
        {"tenant": "acme", "role": "admin", "aud": AUDIENCE, "exp": int(time.time()) + 300},
        "not-the-server-secret-at-all-0123456789",
        algorithm="HS256",
    )


def test_a_valid_jwt_is_accepted(env: Env) -> None:
    r = httpx.get(env.gw.base_url + "/v1/models", headers={"Authorization": f"Bearer {_jwt()}"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer nx_zzzzzzzzzzzz_secret",
        "Bearer nx_0123456789ab_not-a-real-secret",
        "Bearer ' OR 1=1 --",
        "Bearer " + "A" * 9000,
        "Bearer a.b.c",
    ],
)
def test_missing_or_malformed_credentials_are_401(env: Env, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = httpx.get(env.gw.base_url + "/api/work-orders", headers=headers)
    assert _err(r, 401)["type"] == "authentication_error"
    assert r.headers.get("www-authenticate") == "Bearer"


@pytest.mark.parametrize(
    "token_fn",
    [
        lambda: _jwt(exp=int(time.time()) - 60),  # expired
        _forged,  # signed with another secret
        _alg_none,  # alg: none
        lambda: _jwt(aud="someone-else"),  # wrong audience
        lambda: _jwt(role="root"),  # unknown role
        lambda: jwt.encode({"tenant": "acme", "aud": AUDIENCE}, JWT_SECRET, algorithm="HS256"),  # no exp
    ],
    ids=["expired", "forged", "alg-none", "wrong-audience", "bad-role", "no-exp"],
)
def test_bad_jwts_are_401(env: Env, token_fn: object) -> None:
    token = token_fn()  # type: ignore[operator]
    r = httpx.get(env.gw.base_url + "/api/work-orders", headers={"Authorization": f"Bearer {token}"})
    _err(r, 401)


def test_tampered_secret_and_revoked_key_are_401(env: Env) -> None:
    good = env.keys["acme"]
    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")
    r = httpx.get(env.gw.base_url + "/v1/models", headers={"Authorization": f"Bearer {tampered}"})
    _err(r, 401)
    token, row = env.gw.call(create_api_key(env.gw.services.store, tenant="acme", role="member"))
    h = {"Authorization": f"Bearer {token}"}
    assert httpx.get(env.gw.base_url + "/v1/models", headers=h).status_code == 200
    r = httpx.delete(f"{env.gw.base_url}/admin/keys/{row.id}", headers=env.h("acme"))  # type: ignore[attr-defined]
    assert r.status_code == 200
    _err(httpx.get(env.gw.base_url + "/v1/models", headers=h), 401)


def test_a_member_key_cannot_use_the_admin_api(env: Env) -> None:
    token, _ = env.gw.call(create_api_key(env.gw.services.store, tenant="acme", role="member"))
    h = {"Authorization": f"Bearer {token}"}
    assert _err(httpx.get(env.gw.base_url + "/admin/keys", headers=h), 403)["code"] == "forbidden"
    r = httpx.post(env.gw.base_url + "/admin/keys", headers=h, json={"role": "global_admin"})
    _err(r, 403)


def test_an_admin_cannot_mint_keys_for_another_tenant_or_global_admins(env: Env) -> None:
    r = httpx.post(env.gw.base_url + "/admin/keys", headers=env.h("acme"), json={"tenant": "globex"})
    _err(r, 404)
    r = httpx.post(env.gw.base_url + "/admin/keys", headers=env.h("acme"), json={"role": "global_admin"})
    _err(r, 403)


@pytest.mark.parametrize("tenant", ["acme:s1", "a" * 129, "acme\nx", "' OR 1=1 --"])
def test_jwt_tenant_claims_outside_the_tenant_shape_are_401(env: Env, tenant: str) -> None:
    """'acme:s1' with session 'x' would share the pipeline thread 'acme:s1:x' of tenant acme."""
    r = httpx.get(env.gw.base_url + "/v1/models", headers={"Authorization": f"Bearer {_jwt(tenant=tenant)}"})
    assert "tenant" in _err(r, 401)["message"]
