"""POST /api/compare: both models at once through the chat service; a side slower than the timeout is
cut and flagged, the other side comes back in time."""

from __future__ import annotations

import time

from tests.faq.conftest import Env

from nexus.testing import Reply


def test_a_side_slower_than_the_timeout_is_flagged_and_the_other_returns(env: Env) -> None:
    env.fast.push(Reply(text="fast answer"))
    env.slow.push(Reply(text="slow answer", delay=4.0))
    with env.client("acme") as c:
        t0 = time.monotonic()
        r = c.post(
            "/api/compare", json={"prompt": "Which plan?", "models": ["fast", "slow"], "timeout_s": 1.0}
        )
        took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    fast, slow = r.json()["results"]
    assert (fast["model"], fast["answer"], fast["timed_out"]) == ("fast", "fast answer", False)
    assert fast["tokens"]["total"] > 0 and fast["latency_ms"] < 1000
    assert (slow["model"], slow["answer"], slow["timed_out"]) == ("slow", None, True)
    assert took < 3.0  # never waited for the slow side
    assert env.fast.requests[-1].json["messages"][0]["content"] == "Which plan?"


def test_both_in_time_run_at_once(env: Env) -> None:
    env.fast.push(Reply(text="a", delay=0.8))
    env.slow.push(Reply(text="b", delay=0.8))
    with env.client("acme") as c:
        t0 = time.monotonic()
        r = c.post("/api/compare", json={"prompt": "hi", "models": ["fast", "slow"], "timeout_s": 5})
        took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    assert [s["answer"] for s in r.json()["results"]] == ["a", "b"]
    assert not any(s["timed_out"] for s in r.json()["results"])
    assert took < 1.5  # in parallel, not 1.6 s one after the other


def test_refusals_refuse_the_whole_comparison(env: Env) -> None:
    with env.client("acme") as c:
        unknown = c.post("/api/compare", json={"prompt": "hi", "models": ["fast", "nope"]})
        one = c.post("/api/compare", json={"prompt": "hi", "models": ["fast"]})
    assert unknown.status_code == 404
    assert one.status_code == 400
    r = __import__("httpx").post(
        env.gw.base_url + "/api/compare", json={"prompt": "hi", "models": ["fast", "slow"]}
    )
    assert r.status_code == 401
    assert not env.fast.requests and not env.slow.requests
