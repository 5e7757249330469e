"""The SSRF guard and the allow-lists: checked after DNS resolution, on the address actually connected
to, and on every redirect hop. Only the loopback fake a test names as trusted is reachable."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
from tests.execution.conftest import FAST

from nexus.execution import (
    EgressPolicy,
    EgressRefused,
    ExecContext,
    ExecutionAudit,
    ExecutionEngine,
    ExternalRequest,
    forbidden_reason,
)
from nexus.testing import Reply
from nexus.testing.fake_http import FakeHTTP

CTX = ExecContext(tenant="acme")


class Resolver:
    """A scripted DNS: name → answers (one list per lookup, the last one repeating)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        seq = self.answers[host]
        return seq[min(len(self.lookups_of(host)) - 1, len(seq) - 1)]

    def lookups_of(self, host: str) -> list[str]:
        return [h for h in self.lookups if h == host]


@pytest.fixture
def dns() -> Resolver:
    return Resolver({})


@pytest.fixture
async def guarded(
    fake: FakeHTTP, dns: Resolver, audits: list[ExecutionAudit]
) -> AsyncIterator[ExecutionEngine]:
    e = ExecutionEngine(
        EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]), resolver=dns, audit=audits.append, settings=FAST
    )
    yield e
    await e.aclose()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{other}/", "loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata address"),
        ("http://10.0.0.1/", "private address"),
        ("http://192.168.1.10:8080/", "private address"),
        ("http://[::1]:{other}/", "loopback address"),
        ("http://[::ffff:127.0.0.1]:{other}/", "loopback address"),
        ("http://[fd00:ec2::254]/", "cloud metadata address"),
        ("http://0.0.0.0:{other}/", "unspecified address"),
    ],
)
async def test_internal_addresses_are_refused(
    guarded: ExecutionEngine, other: FakeHTTP, audits: list[ExecutionAudit], url: str, reason: str
) -> None:
    with pytest.raises(EgressRefused) as info:
        await guarded.request(CTX, ExternalRequest(url=url.format(other=other.port)))
    assert info.value.reason == reason
    assert other.requests == []
    assert [(a.outcome, a.attempts) for a in audits] == [("refused", 0)]


async def test_a_name_resolving_to_a_private_address_is_refused(
    guarded: ExecutionEngine, dns: Resolver
) -> None:
    dns.answers["intranet.example.com"] = [["10.1.2.3"]]
    with pytest.raises(EgressRefused) as info:
        await guarded.request(CTX, ExternalRequest(url="http://intranet.example.com/admin"))
    assert (info.value.address, info.value.reason) == ("10.1.2.3", "private address")


async def test_localhost_through_the_real_resolver_is_refused(fake: FakeHTTP, other: FakeHTTP) -> None:
    engine = ExecutionEngine(EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]), settings=FAST)
    try:
        with pytest.raises(EgressRefused):
            await engine.request(CTX, ExternalRequest(url=f"http://localhost:{other.port}/"))
        assert other.requests == []
    finally:
        await engine.aclose()


async def test_one_private_answer_among_public_ones_is_refused(
    guarded: ExecutionEngine, dns: Resolver
) -> None:
    dns.answers["mixed.example.com"] = [["93.184.216.34", "127.0.0.1"]]
    with pytest.raises(EgressRefused):
        await guarded.request(CTX, ExternalRequest(url="http://mixed.example.com/"))


async def test_the_trusted_fake_is_reachable_by_name_through_the_checked_address(
    guarded: ExecutionEngine, fake: FakeHTTP, dns: Resolver
) -> None:
    # The second answer would rebind the name to the metadata address: it is never asked for, because
    # the connection goes to the address that was checked.
    dns.answers["api.partner.test"] = [["127.0.0.1"], ["169.254.169.254"]]
    resp = await guarded.request(CTX, ExternalRequest(url=f"http://api.partner.test:{fake.port}/v1"))
    assert resp.status == 200
    assert fake.requests[0].headers["host"] == f"api.partner.test:{fake.port}"
    assert dns.lookups == ["api.partner.test"]


async def test_a_redirect_to_a_private_address_is_refused(
    guarded: ExecutionEngine, fake: FakeHTTP, other: FakeHTTP, audits: list[ExecutionAudit]
) -> None:
    fake.push(Reply(status=302, body=b"", headers={"location": "http://10.0.0.1/internal"}))
    with pytest.raises(EgressRefused) as info:
        await guarded.request(CTX, ExternalRequest(url=fake.url + "/start"))
    assert info.value.address == "10.0.0.1"
    fake.push(Reply(status=307, body=b"", headers={"location": f"http://127.0.0.1:{other.port}/"}))
    with pytest.raises(EgressRefused):
        await guarded.request(CTX, ExternalRequest(url=fake.url + "/start"))
    assert other.requests == []
    assert [a.outcome for a in audits] == ["refused", "refused"]


async def test_a_redirect_through_a_name_resolving_to_metadata_is_refused(
    guarded: ExecutionEngine, fake: FakeHTTP, dns: Resolver
) -> None:
    dns.answers["metadata.evil.test"] = [["169.254.169.254"]]
    fake.push(Reply(status=301, body=b"", headers={"location": "http://metadata.evil.test/latest"}))
    with pytest.raises(EgressRefused) as info:
        await guarded.request(CTX, ExternalRequest(url=fake.url))
    assert info.value.reason == "cloud metadata address"


async def test_allowed_redirects_are_followed_and_drop_credentials_across_origins(
    fake: FakeHTTP, dns: Resolver
) -> None:
    dns.answers["a.test"] = [["127.0.0.1"]]
    engine = ExecutionEngine(EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]), resolver=dns, settings=FAST)
    try:
        fake.push(
            Reply(status=303, body=b"", headers={"location": f"http://a.test:{fake.port}/next"}),
            Reply(text="landed"),
        )
        resp = await engine.request(
            CTX,
            ExternalRequest(
                method="POST", url=fake.url + "/first", json={"x": 1}, headers={"Authorization": "Bearer t"}
            ),
        )
        assert resp.json_body() == {"text": "landed"} and resp.url.endswith("/next")
        first, second = fake.requests
        assert (first.method, second.method) == ("POST", "GET")  # 303: see other, without the body
        assert first.headers["authorization"] == "Bearer t" and "authorization" not in second.headers
    finally:
        await engine.aclose()


async def test_tenant_allow_lists(fake: FakeHTTP, dns: Resolver) -> None:
    dns.answers["api.partner.test"] = [["127.0.0.1"]]
    dns.answers["elsewhere.test"] = [["127.0.0.1"]]
    policy = EgressPolicy(
        trusted=[f"127.0.0.1:{fake.port}"],
        allowed_hosts={"acme": ["*.partner.test"], "*": []},
    )
    engine = ExecutionEngine(policy, resolver=dns, settings=FAST)
    url = f"http://api.partner.test:{fake.port}/"
    try:
        assert (await engine.request(ExecContext("acme"), ExternalRequest(url=url))).status == 200
        with pytest.raises(EgressRefused) as info:
            await engine.request(ExecContext("globex"), ExternalRequest(url=url))
        assert info.value.reason == "host not allowed"
        # A redirect leaving the allow-list is refused too, before anything connects.
        fake.push(Reply(status=302, body=b"", headers={"location": f"http://elsewhere.test:{fake.port}/"}))
        with pytest.raises(EgressRefused):
            await engine.request(ExecContext("acme"), ExternalRequest(url=url))
        assert "elsewhere.test" not in dns.lookups
        assert len(fake.requests) == 2
    finally:
        await engine.aclose()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.5", False),
        ("172.16.0.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("100.100.100.200", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("224.0.0.1", False),
    ],
)
def test_forbidden_reason(address: str, public: bool) -> None:
    assert (forbidden_reason(ipaddress.ip_address(address)) is None) is public
