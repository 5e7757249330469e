"""The built-in tools and OpenAPI tools, each through the same `invoke` the loop uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from nexus.agents.tools import Passage, ToolCall, ToolContext, ToolSpec, invoke
from nexus.agents.tools.calculator import CalculatorError, calculator_tool, evaluate
from nexus.agents.tools.code import run_python_tool
from nexus.agents.tools.http import http_request_tool
from nexus.agents.tools.openapi import OpenApiError, load_document, tools_from_openapi
from nexus.agents.tools.retrieval import retrieval_tool
from nexus.execution import EgressPolicy, EngineSettings, ExecContext, ExecutionAudit, ExecutionEngine
from nexus.testing import Reply
from nexus.testing.fake_http import FakeHTTP

CTX = ToolContext(tenant="acme", agent="a", run_id="r1", session_id="s1", request_id="q1")


async def call(tool: Any, args: dict[str, Any], ctx: ToolContext = CTX) -> Any:
    return await invoke(tool, ToolCall(id="c", name=tool.spec.name, arguments=args), ctx, 10)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("17 * 23", 391),
        ("2 ^ 10", 1024),
        ("(1 + 2) * 3 / 4", 2.25),
        ("sqrt(16) + abs(-2)", 6),
        ("round(pi, 3)", 3.142),
        ("10 // 3 + 10 % 3", 4),
        ("max(1, 5, 3) - min(4, 2)", 3),
        ("factorial(5)", 120),
    ],
)
def test_calculator_values(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('id')",
        "(1).__class__",
        "open('/etc/passwd')",
        "[1, 2]",
        "lambda: 1",
        "9 ** 9 ** 9",
        "10 ** 400",
        "factorial(10000)",
        "1 / 0",
        "x + 1",
        "1 +" * 300,
        "",
    ],
)
def test_calculator_refuses_everything_but_arithmetic(expression: str) -> None:
    with pytest.raises(CalculatorError):
        evaluate(expression)


async def test_calculator_tool_reports_errors_to_the_model() -> None:
    ok = await call(calculator_tool(), {"expression": "6*7"})
    assert not ok.is_error and orjson.loads(ok.content) == {"expression": "6*7", "result": 42}
    bad = await call(calculator_tool(), {"expression": "1/0"})
    assert bad.is_error and bad.content == "error: division by zero"
    missing = await call(calculator_tool(), {})
    assert missing.is_error and "'expression' is a required property" in missing.content


@pytest.fixture
def fake() -> Any:
    with FakeHTTP() as f:
        yield f


@pytest.fixture
async def engine(fake: FakeHTTP) -> AsyncIterator[tuple[ExecutionEngine, list[ExecutionAudit]]]:
    audits: list[ExecutionAudit] = []
    e = ExecutionEngine(
        EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]),
        audit=audits.append,
        settings=EngineSettings(max_retries=0),
    )
    yield e, audits
    await e.aclose()


async def test_http_tool_goes_through_the_engine(engine: Any, fake: FakeHTTP) -> None:
    e, audits = engine
    tool = http_request_tool(e)
    fake.push(Reply(text="pong"))
    ok = await call(tool, {"url": fake.url + "/ping", "query": {"q": "1"}})
    assert not ok.is_error
    body = orjson.loads(ok.content)
    assert body["status"] == 200 and orjson.loads(body["body"]) == {"text": "pong"}
    assert fake.requests[0].query == {"q": "1"}
    assert (audits[0].tenant, audits[0].actor, audits[0].run_id) == ("acme", "agent:a", "r1")
    refused = await call(tool, {"url": "http://169.254.169.254/latest/meta-data/"})
    assert refused.is_error and "cloud metadata address" in refused.content
    assert audits[-1].outcome == "refused"


async def test_run_python_tool_runs_in_the_sandbox() -> None:
    out = await call(run_python_tool(timeout_s=5), {"code": "print(sum(range(10)))"})
    assert not out.is_error and orjson.loads(out.content)["stdout"].strip() == "45"
    net = await call(
        run_python_tool(timeout_s=5),
        {"code": "import socket\nsocket.create_connection(('127.0.0.1', 9))"},
    )
    assert orjson.loads(net.content)["exit_code"] != 0


class Docs:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str, int]] = []

    async def search(self, tenant: str, collection: str, query: str, k: int) -> list[Passage]:
        self.asked.append((tenant, collection, query, k))
        return [Passage(text=f"{tenant} handbook: refunds take 5 days", source="handbook.md", score=0.9)]


async def test_retrieval_tool_searches_the_run_tenant_and_the_agent_collection() -> None:
    docs = Docs()
    tool = retrieval_tool(docs)
    ctx = ToolContext(
        tenant="globex", agent="a", run_id="r", session_id="s", options={"collection": "policies"}
    )
    out = await call(tool, {"query": "refund time", "k": 2}, ctx)
    assert docs.asked == [("globex", "policies", "refund time", 2)]
    assert orjson.loads(out.content)["passages"][0]["source"] == "handbook.md"


PETSTORE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "pets", "version": "1"},
    "paths": {
        "/pets/{petId}": {
            "parameters": [{"name": "petId", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {
                "operationId": "getPet",
                "summary": "Get a pet",
                "parameters": [{"name": "fields", "in": "query", "schema": {"type": "string"}}],
            },
        },
        "/pets": {
            "post": {
                "operationId": "createPet",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Pet": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "tag": {"type": "string"}},
                "required": ["name"],
            }
        }
    },
}


async def test_openapi_operations_become_tools_called_through_the_engine(engine: Any, fake: FakeHTTP) -> None:
    e, audits = engine
    tools = {
        t.spec.name: t
        for t in tools_from_openapi(PETSTORE, prefix="pets", engine=e, base_url=fake.url + "/v1")
    }
    assert set(tools) == {"pets__getPet", "pets__createPet"}
    get_spec: ToolSpec = tools["pets__getPet"].spec
    assert get_spec.parameters["required"] == ["petId"] and get_spec.source == "openapi:pets"
    create_spec = tools["pets__createPet"].spec
    assert create_spec.parameters["properties"]["body"]["required"] == ["name"]  # the $ref is inlined

    await call(tools["pets__getPet"], {"petId": "a b/c", "fields": "name"})
    assert (fake.requests[-1].method, fake.requests[-1].path) == ("GET", "/v1/pets/a%20b%2Fc")
    assert fake.requests[-1].query == {"fields": "name"}
    out = await call(tools["pets__createPet"], {"body": {"name": "Rex"}})
    assert fake.requests[-1].json == {"name": "Rex"} and orjson.loads(out.content)["status"] == 200
    bad = await call(tools["pets__createPet"], {"body": {"tag": "no name"}})
    assert bad.is_error and "'name' is a required property" in bad.content
    assert len(fake.requests) == 2 and len(audits) == 2


async def test_openapi_documents_load_through_the_engine(engine: Any, fake: FakeHTTP) -> None:
    e, _ = engine
    fake.push(Reply(body=orjson.dumps(PETSTORE)))
    doc = await load_document(fake.url + "/openapi.json", e, ExecContext("acme"), allow_files=False)
    assert doc["info"]["title"] == "pets"
    with pytest.raises(OpenApiError):
        await load_document("/etc/passwd", e, ExecContext("acme"), allow_files=False)
    with pytest.raises(OpenApiError):
        await load_document("http://10.0.0.1/openapi.json", e, ExecContext("acme"), allow_files=False)
    with pytest.raises(OpenApiError):
        tools_from_openapi({"swagger": "2.0"}, prefix="x", engine=e, base_url="http://x.test")
    with pytest.raises(OpenApiError):
        tools_from_openapi(PETSTORE, prefix="x", engine=e)  # no server URL and no base_url
