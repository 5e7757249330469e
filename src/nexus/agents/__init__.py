"""Tool-calling agents: definitions, a LangGraph loop (model → parallel tools → observe → repeat),
typed events, checkpointed memory, human approval, MCP and OpenAPI tools. Doors call `AgentService`.
"""

from nexus.agents.errors import (
    AgentError,
    AgentExists,
    AgentNotFound,
    InvalidAgent,
    NotAwaitingApproval,
    ReadOnlyAgent,
    RunNotCancellable,
    RunNotFound,
    SessionBusy,
    ToolSetupError,
)
from nexus.agents.events import AgentEvent
from nexus.agents.model import HubModelCaller, ModelCaller, ModelCallFailed, ModelReply, ModelTurn
from nexus.agents.runtime import AgentRuntime, Approval, RunScope
from nexus.agents.service import (
    AgentCaller,
    AgentService,
    AgentView,
    ApprovalRequest,
    RunHandle,
    RunRequest,
    RunView,
)
from nexus.agents.setup import Agents, Persistence, open_agents
from nexus.config.agents import AgentEntry

__all__ = [
    "AgentCaller",
    "AgentEntry",
    "AgentError",
    "AgentEvent",
    "AgentExists",
    "AgentNotFound",
    "AgentRuntime",
    "AgentService",
    "AgentView",
    "Agents",
    "Approval",
    "ApprovalRequest",
    "HubModelCaller",
    "InvalidAgent",
    "ModelCallFailed",
    "ModelCaller",
    "ModelReply",
    "ModelTurn",
    "NotAwaitingApproval",
    "Persistence",
    "ReadOnlyAgent",
    "RunHandle",
    "RunNotCancellable",
    "RunNotFound",
    "RunRequest",
    "RunScope",
    "RunView",
    "SessionBusy",
    "ToolSetupError",
    "open_agents",
]
