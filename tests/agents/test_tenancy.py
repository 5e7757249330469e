"""Tenants cannot see, run, resume or read each other's agents, runs or memory (library level)."""

from __future__ import annotations

import pytest
from tests.agents.conftest import ACME, GLOBEX, Shop, Stack, run, sent_messages

from nexus.agents import (
    AgentEntry,
    AgentExists,
    AgentNotFound,
    ApprovalRequest,
    InvalidAgent,
    ReadOnlyAgent,
    RunNotFound,
    RunRequest,
)
from nexus.testing import FakeOpenAI, Reply, ToolCall


async def test_tenant_agents_are_invisible_to_other_tenants(stack: Stack, fake: FakeOpenAI) -> None:
    svc = stack.agents.service
    created = await svc.create_agent(
        ACME, AgentEntry(name="helper", model="agent-model", instructions="ACME's secret prompt")
    )
    assert created.origin == "tenant"
    assert "helper" in [a.name for a in await svc.list_agents(ACME)]
    assert "helper" not in [a.name for a in await svc.list_agents(GLOBEX)]
    with pytest.raises(AgentNotFound):
        await svc.get_agent(GLOBEX, "helper")
    with pytest.raises(AgentNotFound):
        await svc.start_run(GLOBEX, "helper", RunRequest(task="hi"))
    with pytest.raises(AgentNotFound):
        await svc.delete_agent(GLOBEX, "helper")
    # Globex may have its own "helper": a different agent under the same name.
    await svc.create_agent(
        GLOBEX, AgentEntry(name="helper", model="agent-model", instructions="Globex prompt")
    )
    fake.push(Reply(text="hello from globex's helper"))
    await run(stack, "helper", "hi", caller=GLOBEX)
    assert sent_messages(fake)[0]["content"] == "Globex prompt"
    await svc.delete_agent(ACME, "helper")
    assert (await svc.get_agent(GLOBEX, "helper")).definition.instructions == "Globex prompt"
    with pytest.raises(AgentExists):
        await svc.create_agent(GLOBEX, AgentEntry(name="helper", model="agent-model"))


async def test_runs_cannot_be_read_or_resumed_across_tenants(
    stack: Stack, fake: FakeOpenAI, shop: Shop
) -> None:
    svc = stack.agents.service
    fake.push(Reply(tool_calls=[ToolCall("refund", {"item": "kettle"}, id="r1")]))
    paused = await run(stack, "clerk", "refund", caller=ACME, session="shared-name")
    run_id = paused[0].run_id
    with pytest.raises(RunNotFound):
        await svc.get_run(GLOBEX, run_id)
    with pytest.raises(RunNotFound):
        await svc.resume_run(GLOBEX, run_id, ApprovalRequest())
    with pytest.raises(RunNotFound):  # the right tenant, the wrong agent in the path
        await svc.get_run(ACME, run_id, agent="shopper")
    assert await svc.list_runs(GLOBEX) == []
    assert [r.id for r in await svc.list_runs(ACME, agent="clerk")] == [run_id]
    assert shop.calls == []
    # Same agent, same session id, other tenant: a separate session with its own memory.
    fake.push(Reply(text="fresh"))
    await run(stack, "clerk", "who am I?", caller=GLOBEX, session="shared-name")
    assert [m["role"] for m in sent_messages(fake)] == ["system", "user"]
    assert await svc.memory(GLOBEX, "clerk", "shared-name") != await svc.memory(ACME, "clerk", "shared-name")


async def test_tools_act_for_the_run_tenant(stack: Stack, fake: FakeOpenAI, shop: Shop) -> None:
    fake.push(Reply(tool_calls=[ToolCall("price", {"item": "x"}, id="c")]), Reply(text="ok"))
    await run(stack, "shopper", "price?", caller=GLOBEX)
    assert shop.calls == [("price", {"item": "x"}, "globex")]


async def test_catalogue_agents_are_shared_and_read_only(stack: Stack) -> None:
    svc = stack.agents.service
    for caller in (ACME, GLOBEX):
        assert {"shopper", "clerk"} <= {
            a.name for a in await svc.list_agents(caller) if a.origin == "catalogue"
        }
    with pytest.raises(ReadOnlyAgent):
        await svc.delete_agent(ACME, "shopper")
    with pytest.raises(AgentExists):
        await svc.create_agent(ACME, AgentEntry(name="shopper", model="agent-model"))


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"tools": ["rm_rf"]}, "unknown tools: rm_rf"),
        ({"model": "gpt-9"}, "model 'gpt-9' is not a catalogue model that takes tools"),
        ({"mcp": [{"name": "box", "command": ["/bin/sh", "-c", "id"]}]}, "stdio MCP servers"),
        ({"openapi": [{"name": "api", "spec": "/etc/passwd"}]}, "must be an http(s) URL"),
    ],
)
async def test_api_agents_cannot_name_unknown_or_unsafe_things(
    stack: Stack,
    definition: dict,
    message: str,  # type: ignore[type-arg]
) -> None:
    spec = AgentEntry.model_validate({"name": "risky", "model": "agent-model", **definition})
    with pytest.raises(InvalidAgent) as info:
        await stack.agents.service.create_agent(ACME, spec)
    assert message in info.value.message
    assert "risky" not in [a.name for a in await stack.agents.service.list_agents(ACME)]


async def test_an_agent_needs_a_model_that_takes_tools(stack: Stack) -> None:
    from nexus.config.catalogue import CatalogueError, parse_catalogue
    from nexus.testing.gateway import catalogue_yaml

    plain = [{"id": "plain", "capabilities": []}, {"id": "toolish"}]
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(catalogue_yaml(plain, agents=[{"name": "a", "model": "plain"}]))
    assert "agents[0] (name='a').model: 'plain' does not take tools" in str(info.value)
    assert parse_catalogue(catalogue_yaml(plain, agents=[{"name": "a", "model": "toolish"}])).agent("a")
