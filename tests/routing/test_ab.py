"""A/B routing policies: deterministic per session, weights respected, the arm logged on the decision."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tests.routing.test_policy import KeywordStub, make_router

from nexus.routing.ab import AbPolicy, Arm, RouteOverrides, assign, route_overrides, unit_hash
from nexus.routing.base import RouteContext

ARMS = [
    Arm(name="control", weight=0.7),
    Arm(name="cheap", weight=0.2, cost_lambda=5.0),
    Arm(name="q", weight=0.1),
]


def test_assignment_is_deterministic_per_session() -> None:
    policy = AbPolicy(arms=ARMS)
    for i in range(200):
        first = policy.assign("acme", f"s{i}")
        assert first is not None
        # Same (tenant, session): same arm, every time, in any process (a hash, no state).
        assert all(policy.assign("acme", f"s{i}") == first for _ in range(3))
        assert AbPolicy(arms=list(ARMS)).assign("acme", f"s{i}") == first
    # The tenant is part of the hash: tenants do not share a session's coin.
    assert [unit_hash("acme", f"s{i}") for i in range(50)] != [
        unit_hash("globex", f"s{i}") for i in range(50)
    ]


def test_weights_are_respected_over_ten_thousand_sessions() -> None:
    n = 10_000
    counts = {a.name: 0 for a in ARMS}
    propensity = {}
    for i in range(n):
        got = assign(ARMS, "acme", f"session-{i}")
        assert got is not None
        arm, p = got
        counts[arm.name] += 1
        propensity[arm.name] = p
    total = sum(a.weight for a in ARMS)
    for a in ARMS:
        expected = a.weight / total
        # Binomial standard error; 4 sigma keeps the test stable yet catches a wrong split (e.g. 0.7→0.65).
        sigma = math.sqrt(expected * (1 - expected) / n)
        assert abs(counts[a.name] / n - expected) < 4 * sigma, (a.name, counts)
        assert propensity[a.name] == pytest.approx(expected)


def test_zero_weight_arm_gets_no_traffic_and_bad_policies_are_refused() -> None:
    arms = [Arm(name="on", weight=1.0), Arm(name="off", weight=0.0)]
    assert {assign(arms, "t", f"s{i}")[0].name for i in range(500)} == {"on"}  # type: ignore[index]
    assert assign([], "t", "s") is None
    with pytest.raises(ValueError):
        AbPolicy(arms=[Arm(name="a", weight=0.0)])
    with pytest.raises(ValueError):
        AbPolicy(arms=[Arm(name="a", weight=1.0), Arm(name="a", weight=1.0)])


def test_the_arm_is_logged_on_the_decision_and_its_lambda_applies(tmp_path: Path) -> None:
    router = make_router(tmp_path, classifier=KeywordStub())
    text = "write a python function to sort a list"
    plain = router.decide(text, RouteContext(tenant="acme"))
    assert "policy_arm" not in plain.explanation.extra
    token = route_overrides.set(RouteOverrides.of((ARMS[1], 0.2)))
    try:
        under_arm = router.decide(text, RouteContext(tenant="acme"))
    finally:
        route_overrides.reset(token)
    assert under_arm.explanation.extra["policy_arm"] == "cheap"
    assert under_arm.explanation.extra["propensity"] == pytest.approx(0.2)
    assert under_arm.explanation.cost_lambda == 5.0  # the arm's λ, not the catalogue's 0.5
    assert plain.explanation.cost_lambda == 0.5
