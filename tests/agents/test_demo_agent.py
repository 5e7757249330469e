"""The whole loop offline: the default catalogue's `assistant` on simulated (demo) models, in the
library and through `nexus agent run`."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.agents.conftest import persistence
from typer.testing import CliRunner

from nexus.agents import AgentCaller, RunRequest, open_agents
from nexus.cli.agent import agent_app
from nexus.config.settings import Settings
from nexus.providers.hub import ModelHub
from nexus.store import open_store


@pytest.fixture(autouse=True)
def _instant_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_DEMO_SPEED", "0")


async def test_the_assistant_uses_its_tools_on_demo_models(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, demo=True)
    hub = ModelHub(settings)
    hub.load()
    store = await open_store(settings)
    agents = await open_agents(settings, hub, persistence(store))
    caller = AgentCaller(tenant="default")
    try:
        assert "assistant" in [a.name for a in await agents.service.list_agents(caller)]
        view = await agents.service.complete(caller, "assistant", RunRequest(task="What is 17 * 23?"))
        assert view.status == "completed" and view.tool_calls == 1
        assert "391" in (view.answer or "")
        run = await agents.service.get_run(caller, view.id)
        calls = [e["data"]["call"] for e in run.events or [] if e["type"] == "tool_call"]
        assert calls == [
            {
                "id": calls[0]["id"],
                "name": "calculator",
                "arguments": {"expression": "17 * 23"},
                "invalid_arguments": None,
            }
        ]

        fetched = await agents.service.complete(
            caller, "assistant", RunRequest(task="Fetch http://169.254.169.254/latest/meta-data please")
        )
        assert fetched.status == "completed" and "cloud metadata address" in (fetched.answer or "")
    finally:
        await agents.aclose()
        await hub.aclose()
        await store.close()


def test_nexus_agent_run_from_the_command_line(tmp_path: Path) -> None:
    env = {"NEXUS_DATA_DIR": str(tmp_path), "NEXUS_DEMO": "1", "NEXUS_DEMO_SPEED": "0"}
    from nexus.config.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            agent_app, ["run", "assistant", "What is 17 * 23?", "--session", "cli-1"], env=env
        )
        assert result.exit_code == 0, result.output
        assert "calculator" in result.output and "391" in result.output

        as_json = CliRunner().invoke(
            agent_app, ["run", "assistant", "And 2 ^ 10?", "-s", "cli-1", "--json"], env=env
        )
        events = [orjson.loads(line) for line in as_json.output.splitlines() if line.startswith("{")]
        assert [e["type"] for e in events][-2:] == ["final", "done"] and "1024" in events[-2]["data"][
            "answer"
        ]

        listed = CliRunner().invoke(agent_app, ["list"], env=env)
        assert listed.exit_code == 0 and "assistant" in listed.output

        missing = CliRunner().invoke(agent_app, ["run", "nobody", "hi"], env=env)
        assert missing.exit_code == 2 and "agent 'nobody' not found" in missing.output
    finally:
        get_settings.cache_clear()
