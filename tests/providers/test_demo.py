from __future__ import annotations

import re

import orjson
import pytest

from nexus.config.catalogue import load_catalogue
from nexus.providers import registry
from nexus.providers.demo import FINGERPRINT, DemoProvider
from nexus.providers.tokens import estimate_tokens
from nexus.providers.types import ChatRequest

CAT = load_catalogue().demo_view()
ENTRY = CAT.models[0]


def chat(*messages: tuple[str, str], **kw: object) -> ChatRequest:
    return ChatRequest(model="x", messages=[{"role": r, "content": c} for r, c in messages], **kw)  # type: ignore[misc]


@pytest.fixture
def demo() -> DemoProvider:
    return DemoProvider(ENTRY, speed=0)


async def test_deterministic_labelled_and_metered(demo: DemoProvider) -> None:
    r1 = await demo.complete(chat(("user", "Explain the history of Rome")))
    r2 = await demo.complete(chat(("user", "Explain the history of Rome")))
    other = await DemoProvider(CAT.models[1], speed=0).complete(chat(("user", "Explain the history of Rome")))
    assert r1.text == r2.text and r1.text != other.text
    assert "Explain the history of Rome" in r1.text and "Simulated" in r1.text
    assert r1.system_fingerprint == FINGERPRINT and r1.model_extra == {"nexus_simulated": True}
    assert r1.usage is not None and r1.usage.completion_tokens == estimate_tokens(r1.text)
    assert demo.estimate_cost(r1.usage) > 0


async def test_stream_matches_complete_and_is_labelled(demo: DemoProvider) -> None:
    request = chat(("user", "Tell me about tides"))
    full = await demo.complete(request)
    chunks = [c async for c in demo.stream(request)]
    assert "".join(c.text for c in chunks) == full.text
    assert all(
        c.system_fingerprint == FINGERPRINT and c.model_extra == {"nexus_simulated": True} for c in chunks
    )
    assert chunks[-1].usage == full.usage and chunks[-2].choices[0].finish_reason == "stop"


async def test_code_and_math(demo: DemoProvider) -> None:
    code = await demo.complete(chat(("user", "Write a python function that sorts users")))
    assert "```python\ndef " in code.text
    math = await demo.complete(chat(("user", "What is 12 * (3 + 4) - 2^3?")))
    assert "**76**" in math.text


@pytest.mark.parametrize(
    ("text", "score"),
    [("Request: add two numbers", 8), ("Request: please escalate this", 4), ("critical-demo case", 4)],
)
async def test_judge_verdict(demo: DemoProvider, text: str, score: int) -> None:
    system = 'Score the answer from 1 to 10. Reply with JSON with score and critique only, like {"score": 8}.'
    verdict = orjson.loads((await demo.complete(chat(("system", system), ("user", text)))).text)
    assert verdict["score"] == score and isinstance(verdict["critique"], str)


async def test_json_schema_answer(demo: DemoProvider) -> None:
    schema = {
        "type": "object",
        "properties": {
            "domain": {"type": "string", "enum": ["writing", "code", "math"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "tags": {"type": "array", "items": {"type": "string"}},
            "ok": {"type": "boolean"},
        },
        "required": ["domain", "confidence"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}}
    value = orjson.loads(
        (await demo.complete(chat(("user", "Fix this python bug"), response_format=fmt))).text
    )
    assert value["domain"] == "code" and 0 <= value["confidence"] <= 1
    assert isinstance(value["tags"], list) and value["ok"] is True
    obj = orjson.loads(
        (await demo.complete(chat(("user", "hi"), response_format={"type": "json_object"}))).text
    )
    assert obj["simulated"] is True and obj["answer"]


async def test_qa_retry_trigger(demo: DemoProvider) -> None:
    first = await demo.complete(chat(("user", "Write docs qa-retry-demo")))
    assert "TODO" in first.text
    retry = await demo.complete(
        chat(
            ("user", "Write docs qa-retry-demo"),
            ("assistant", first.text),
            ("user", "QA feedback: your answer failed these checks: no TODO"),
        )
    )
    assert "TODO" not in retry.text


async def test_tool_call_then_answer(demo: DemoProvider) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    first = await demo.complete(chat(("user", "Weather in Oslo?"), tools=tools))
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert first.choices[0].finish_reason == "tool_calls" and call["function"]["name"] == "weather"
    assert isinstance(orjson.loads(call["function"]["arguments"])["city"], str)
    after = ChatRequest(
        model="x",
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},  # type: ignore[list-item]
            {"role": "assistant", "tool_calls": [call]},  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call["id"], "content": "3 degrees"},  # type: ignore[list-item]
        ],
        tools=tools,
    )
    answer = await demo.complete(after)
    assert answer.choices[0].finish_reason == "stop" and answer.text


async def test_max_tokens_truncates(demo: DemoProvider) -> None:
    resp = await demo.complete(chat(("user", "Tell me about tides"), max_tokens=5))
    assert resp.choices[0].finish_reason == "length" and resp.usage is not None
    assert resp.usage.completion_tokens <= 5


async def test_speed_env_and_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_DEMO_SPEED", "0.5")
    p = registry.get_factory("demo")(ENTRY, None)  # type: ignore[arg-type]
    assert isinstance(p, DemoProvider) and p.speed == 0.5
    monkeypatch.setenv("NEXUS_DEMO_SPEED", "0")
    assert DemoProvider(ENTRY).speed == 0
    assert (await p.health_check()).ok


def test_token_estimate() -> None:
    assert estimate_tokens("") == 0
    words = "the quick brown fox jumps over the lazy dog " * 10
    assert 80 <= estimate_tokens(words) <= 130
    assert re.fullmatch(r"\d+", str(estimate_tokens("x = 1")))
