# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""The official openai SDK against nexus-auto over real HTTP: tokens stream live, tools round-trip,
the SDK's default embeddings call works."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import BadRequestError, OpenAI
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import MODELS, TEST_KEY, make_app, write_test_catalogue

from nexus.config.settings import Settings
from nexus.testing import FakeOpenAI, Reply, ToolCall
from nexus.testing.gateway import GatewayServer, write_catalogue

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def gw(
    fakes: dict[str, FakeOpenAI],  # noqa: F811
    classifier_cache: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayServer]:
    d = tmp_path_factory.mktemp("sdk")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    catalogue = write_test_catalogue(d / "catalogue.yaml", fakes, subtask_timeout_s=10.0)
    settings = Settings(data_dir=d, config=catalogue, auth="off")
    with GatewayServer(settings, app=make_app(settings, classifier_cache)) as server:
        yield server
    mp.undo()


@pytest.fixture(autouse=True)
def _clean(fakes: dict[str, FakeOpenAI]) -> Iterator[None]:  # noqa: F811
    for f in fakes.values():
        f.clear()
    yield
    for f in fakes.values():
        f.default = Reply()


def _client(gw: GatewayServer) -> OpenAI:
    return OpenAI(base_url=gw.base_url + "/v1", api_key="sk-anything", max_retries=0)


def test_nexus_auto_streams_the_first_content_before_half_of_the_total_time(
    gw: GatewayServer, fakes: dict[str, FakeOpenAI]
) -> None:
    slow = Reply(text=" ".join(f"word{i}" for i in range(80)), chunk_delay=0.05)  # about 4 s of tokens
    for m in MODELS:
        fakes[m].default = slow
    started = time.perf_counter()
    first: float | None = None
    text = ""
    stream = _client(gw).chat.completions.create(
        model="nexus-auto",
        stream=True,
        messages=[{"role": "user", "content": "Write a short poem about the sea at night"}],
    )
    for chunk in stream:
        piece = chunk.choices[0].delta.content if chunk.choices else None
        if piece:
            first = first if first is not None else time.perf_counter() - started
            text += piece
    total = time.perf_counter() - started
    assert text.startswith("word0 word1") and "word79" in text
    assert first is not None and first < total / 2, f"first content at {first:.2f}s of {total:.2f}s"


def test_a_critical_request_is_judged_before_delivery(
    gw: GatewayServer, fakes: dict[str, FakeOpenAI]
) -> None:
    """The judge rejects the first draft: a streaming client only ever sees the escalated answer."""
    for m in MODELS:
        fakes[m].default = Reply(text="Draft: take two aspirin and skip the doctor.")
    fakes["judge"].default = Reply(text='{"score": 2, "critique": "unsafe"}')
    fakes["senior"].default = Reply(text="Please see a doctor about chest pain today.")
    stream = _client(gw).chat.completions.create(
        model="nexus-auto",
        stream=True,
        messages=[
            {"role": "user", "content": "I have chest pain and my left arm is numb, what should I do?"}
        ],
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Please see a doctor about chest pain today."


def test_tools_round_trip_through_nexus_auto(gw: GatewayServer, fakes: dict[str, FakeOpenAI]) -> None:
    for m in MODELS:
        fakes[m].default = Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_w1")])
    client = _client(gw)
    messages: list[dict[str, object]] = [
        {"role": "user", "content": "What's the weather in Paris right now?"}
    ]
    first = client.chat.completions.create(model="nexus-auto", messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls and choice.message.tool_calls[0].function.name == "get_weather"
    sent = [r.json for f in fakes.values() for r in f.requests]
    assert sent and all(body["tools"][0]["function"]["name"] == "get_weather" for body in sent)
    for m in MODELS:
        fakes[m].default = Reply(text="It is 18°C and sunny in Paris.")
        fakes[m].clear()
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [tc.model_dump() for tc in choice.message.tool_calls],
        },
        {"role": "tool", "tool_call_id": "call_w1", "content": '{"temp_c": 18, "sky": "sunny"}'},
    ]
    stream = client.chat.completions.create(
        model="nexus-auto", messages=messages, tools=[WEATHER_TOOL], stream=True
    )
    answer = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert answer == "It is 18°C and sunny in Paris."
    [body] = [r.json for f in fakes.values() for r in f.requests]
    assert body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_w1",
        "content": '{"temp_c": 18, "sky": "sunny"}',
    }


def test_streamed_tool_calls_reach_the_client(gw: GatewayServer, fakes: dict[str, FakeOpenAI]) -> None:
    for m in MODELS:
        fakes[m].default = Reply(tool_calls=[ToolCall("get_weather", {"city": "Oslo"}, id="call_o")])
    stream = _client(gw).chat.completions.create(
        model="nexus-auto",
        stream=True,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
    )
    calls, finish = [], None
    for c in stream:
        if c.choices and c.choices[0].delta.tool_calls:
            calls += c.choices[0].delta.tool_calls
        if c.choices and c.choices[0].finish_reason:
            finish = c.choices[0].finish_reason
    assert finish == "tool_calls" and calls[0].function.name == "get_weather"
    assert '"Oslo"' in (calls[0].function.arguments or "")


def test_tools_with_no_capable_model_are_a_clear_400(tmp_path: Path) -> None:
    with FakeOpenAI() as up:
        cat = write_catalogue(
            tmp_path / "c.yaml", [{"id": "plain", "base_url": up.base_url, "capabilities": []}]
        )
        mp = pytest.MonkeyPatch()
        mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
        try:
            with GatewayServer(Settings(data_dir=tmp_path, config=cat, auth="off")) as server:
                with pytest.raises(BadRequestError) as info:
                    _client(server).chat.completions.create(
                        model="nexus-auto",
                        tools=[WEATHER_TOOL],
                        messages=[{"role": "user", "content": "weather?"}],
                    )
                assert info.value.code == "unsupported_capability"
                assert not up.requests
        finally:
            mp.undo()


def test_embeddings_with_the_sdks_defaults(gw: GatewayServer) -> None:
    client = _client(gw)
    default = client.embeddings.create(model="all-MiniLM-L6-v2", input=["hello world", "goodbye"])  # base64
    as_floats = client.embeddings.create(
        model="all-MiniLM-L6-v2", input=["hello world", "goodbye"], encoding_format="float"
    )
    assert len(default.data) == 2 and len(default.data[0].embedding) > 10
    for a, b in zip(default.data, as_floats.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)
