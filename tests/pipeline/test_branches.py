"""Each branch of the pipeline, end to end through POST /chat with scripted fake upstreams."""

from __future__ import annotations

import json

import httpx
from tests.pipeline.harness import final, post_events, types

from nexus.testing import FakeOpenAI, Reply


async def test_self_answer_goes_straight_to_the_cheap_model(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    fakes["cheap"].push(Reply(text="Hello! How can I help?"))
    events = await post_events(client, "/chat", {"message": "hello there!"})
    assert types(events) == [
        "started",
        "classified",
        "routed",
        "worker_started",
        "worker_done",
        "qa",
        "final",
        "done",
    ]
    assert events[2]["data"]["rule"] == "self-answer"
    assert "".join(e["data"]["text"] for e in events if e["type"] == "token") == "Hello! How can I help?"
    f = final(events)
    assert f["answer"] == "Hello! How can I help?"
    assert f["models"] == ["cheap"]
    assert f["tokens"]["total"] > 0 and f["cost_usd"] > 0
    for e in events:
        assert e["session_id"] and e["run_id"] == events[0]["run_id"] and e["ts"] > 0
    assert not fakes["general"].requests


async def test_single_worker_routes_and_streams_tokens(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    fakes["coder"].push(Reply(text="def rev(xs):\n    return xs[::-1]\n"))
    fakes["general"].push(Reply(text="def rev(xs):\n    return xs[::-1]\n"))
    events = await post_events(client, "/chat", {"message": "Write a Python function that reverses a list"})
    assert types(events) == [
        "started",
        "classified",
        "routed",
        "worker_started",
        "worker_done",
        "aggregated",
        "qa",
        "final",
        "done",
    ]
    routed = events[2]["data"]
    assert routed["fanout"] is False and routed["model"] in ("coder", "general")
    assert "scores" in routed["explanation"] and "neighbours" in routed["explanation"]
    assert any(e["type"] == "token" for e in events)
    f = final(events)
    assert "xs[::-1]" in f["answer"]
    assert f["models"] == [routed["model"]]
    # The worker got the expert's system prompt for its domain when one is configured.
    sent = fakes[routed["model"]].last_request.json["messages"]
    assert sent[-1]["content"].startswith("Write a Python function")


async def test_fan_out_runs_subtasks_in_parallel_and_aggregates(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    for m in ("coder", "general"):
        fakes[m].default = Reply(text=f"part answer from {m}", delay=0.3)
    fakes["agg"].push(Reply(text="One coherent answer."))
    try:
        events = await post_events(
            client, "/chat", {"message": "Compute 17*23 and then write a haiku about autumn"}
        )
    finally:
        for m in ("coder", "general"):
            fakes[m].default = Reply()
    ts = types(events)
    assert ts.count("worker_started") == 2 and ts.count("worker_done") == 2
    assert ts.index("aggregated") > max(i for i, t in enumerate(ts) if t == "worker_done")
    routed = next(e for e in events if e["type"] == "routed")["data"]
    assert routed["fanout"] is True and [s["text"] for s in routed["subtasks"]] == [
        "Compute 17*23",
        "write a haiku about autumn",
    ]
    starts = [e["ts"] for e in events if e["type"] == "worker_started"]
    dones = [e["ts"] for e in events if e["type"] == "worker_done"]
    assert max(starts) < min(dones)  # both started before either finished: parallel
    agg = next(e for e in events if e["type"] == "aggregated")["data"]
    assert agg["mode"] == "synthesis" and agg["parts"] == 2 and agg["missing"] == []
    assert final(events)["answer"] == "One coherent answer."
    prompt = fakes["agg"].last_request.json["messages"][-1]["content"]
    assert "Compute 17*23" in prompt and "part answer from" in prompt


async def test_subtask_timeout_is_reported_and_the_aggregator_told(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    # subtask_timeout_s is 1.0 in the test catalogue: the haiku worker takes 3 s.
    fakes["general"].default = Reply(text="slow", delay=3.0)
    fakes["agg"].push(Reply(text="Partial answer: 391; the haiku could not be written."))
    routed_models: list[str] = []
    try:
        fakes["coder"].default = Reply(text="17*23 = 391")
        events = await post_events(
            client, "/chat", {"message": "Compute 17*23 and then write a haiku about autumn"}
        )
    finally:
        fakes["general"].default = Reply()
        fakes["coder"].default = Reply()
    routed_models = [s["model"] for s in next(e for e in events if e["type"] == "routed")["data"]["subtasks"]]
    done = [e["data"] for e in events if e["type"] == "worker_done"]
    slow = [d for d in done if d["model"] == "general"]
    if routed_models.count("general") == 2:
        assert all(not d["ok"] for d in done)
    else:
        assert slow and not slow[0]["ok"] and "timed out" in slow[0]["error"]
        agg = next(e for e in events if e["type"] == "aggregated")["data"]
        assert len(agg["missing"]) == 1 and "timed out" in agg["missing"][0]["error"]
        assert "Missing parts" in fakes["agg"].last_request.json["messages"][-1]["content"]
        assert final(events)["answer"].startswith("Partial answer")
    assert types(events)[-2:] == ["final", "done"]


async def test_low_judge_score_escalates(client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]) -> None:
    msg = "Our company is deciding whether to take a loan of 2 million dollars for the merger; what are the legal and financial risks?"
    fakes["general"].default = Reply(text="Just take the loan.")
    fakes["judge"].push(Reply(text='{"score": 3, "critique": "Ignores interest-rate and covenant risk."}'))
    fakes["senior"].push(Reply(text="A careful answer covering interest-rate and covenant risk."))
    try:
        events = await post_events(client, "/chat", {"message": msg})
    finally:
        fakes["general"].default = Reply()
    ts = types(events)
    assert ts[ts.index("aggregated") :] == ["aggregated", "judged", "escalated", "qa", "final", "done"]
    judged = next(e for e in events if e["type"] == "judged")["data"]
    assert judged["score"] == 3 and judged["passed"] is False and "covenant" in judged["critique"]
    f = final(events)
    assert f["answer"].startswith("A careful answer")
    assert "senior" in f["models"] and "judge" in f["models"]
    esc_prompt = fakes["senior"].last_request.json["messages"][-1]["content"]
    assert msg in esc_prompt and "Just take the loan." in esc_prompt and "covenant risk" in esc_prompt


async def test_good_judge_score_delivers_the_worker_answer(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    msg = "Our company is deciding whether to take a loan of 2 million dollars for the merger; what are the legal and financial risks?"
    fakes["judge"].push(Reply(text="Verdict: score 9/10, thorough."))  # prose, not JSON: tolerant parser
    events = await post_events(client, "/chat", {"message": msg})
    judged = next(e for e in events if e["type"] == "judged")["data"]
    assert judged["score"] == 9 and judged["passed"] is True
    assert "escalated" not in types(events)
    assert not fakes["senior"].requests


async def test_garbage_judge_degrades_to_a_direct_answer(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    msg = "Our company is deciding whether to take a loan of 2 million dollars for the merger; what are the legal and financial risks?"
    fakes["judge"].push(Reply(text="banana banana"))
    fakes["senior"].push(Reply(text="Direct answer from the strongest model."))
    events = await post_events(client, "/chat", {"message": msg})
    ts = types(events)
    assert ts[ts.index("judged") :] == ["judged", "degraded", "qa", "final", "done"]
    assert next(e for e in events if e["type"] == "judged")["data"]["parsed"] is False
    degraded = next(e for e in events if e["type"] == "degraded")["data"]
    assert degraded["node"] == "judge" and degraded["fallback_model"] == "senior"
    f = final(events)
    assert f["answer"] == "Direct answer from the strongest model." and f["degraded"][0]["node"] == "judge"


async def test_qa_failure_retries_once_with_feedback(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    fakes["general"].push(
        Reply(text="Roses are red. TODO: finish the poem."), Reply(text="Roses are red, violets are blue.")
    )
    events = await post_events(
        client, "/chat", {"message": "Write a short poem about roses and violets in the garden"}
    )
    qa = [e["data"] for e in events if e["type"] == "qa"]
    assert [q["passed"] for q in qa] == [False, True] and qa[0]["will_retry"] is True
    assert "placeholder" in qa[0]["failures"][0]
    assert "QA feedback" in fakes["general"].last_request.json["messages"][-1]["content"]
    f = final(events)
    assert f["answer"] == "Roses are red, violets are blue." and f["qa"]["passed"] is True


async def test_qa_failure_twice_delivers_with_the_verdict(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    fakes["general"].push(Reply(text="not json"), Reply(text="still not json"))
    events = await post_events(
        client,
        "/chat",
        {
            "message": "Write a short poem about roses and violets in the garden",
            "response_format": {"type": "json_object"},
        },
    )
    qa = [e["data"] for e in events if e["type"] == "qa"]
    assert [q["passed"] for q in qa] == [False, False] and qa[1]["will_retry"] is False
    f = final(events)
    assert f["answer"] == "still not json" and f["qa"]["passed"] is False


async def test_provider_down_degrades_to_the_best_available_model(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    fakes["general"].default = Reply.error(500, "upstream exploded")
    fakes["coder"].default = Reply.error(500, "upstream exploded")
    fakes["senior"].push(Reply(text="Still answered."))
    try:
        events = await post_events(
            client, "/chat", {"message": "Write a short poem about roses and violets in the garden"}
        )
    finally:
        fakes["general"].default = Reply()
        fakes["coder"].default = Reply()
    ts = types(events)
    assert ts[ts.index("worker_done") :] == ["worker_done", "degraded", "qa", "final", "done"]
    assert next(e for e in events if e["type"] == "worker_done")["data"]["ok"] is False
    degraded = next(e for e in events if e["type"] == "degraded")["data"]
    assert degraded["node"] == "worker" and degraded["fallback_model"] == "senior"
    assert final(events)["answer"] == "Still answered."


async def test_session_history_carries_into_the_next_run(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    fakes["general"].push(Reply(text="Paris is lovely in spring."))
    first = await post_events(
        client, "/chat", {"message": "Write a short poem about Paris in the spring", "session_id": "hist-1"}
    )
    assert final(first)["answer"] == "Paris is lovely in spring."
    await post_events(
        client, "/chat", {"message": "Write a short poem about Rome in the autumn", "session_id": "hist-1"}
    )
    sent = json.dumps(fakes["general"].last_request.json["messages"])
    assert "Paris is lovely in spring." in sent
