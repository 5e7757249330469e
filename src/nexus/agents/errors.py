"""Agent errors as types; `status` is the HTTP status a door answers with."""

from __future__ import annotations


class AgentError(Exception):
    code = "agent_error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AgentNotFound(AgentError):
    """No such agent for this tenant (another tenant's agent looks exactly like this)."""

    code = "agent_not_found"
    status = 404


class AgentExists(AgentError):
    code = "agent_exists"
    status = 409


class ReadOnlyAgent(AgentError):
    """Catalogue agents are configuration: they are changed in the catalogue file, not the API."""

    code = "agent_read_only"
    status = 409


class InvalidAgent(AgentError):
    """The definition cannot run: unknown model or tool, a tool source not allowed here."""

    code = "invalid_agent"
    status = 400


class RunNotFound(AgentError):
    code = "run_not_found"
    status = 404


class NotAwaitingApproval(AgentError):
    code = "not_awaiting_approval"
    status = 409


class RunNotCancellable(AgentError):
    """The run has ended, or runs in another process (only the process running it can stop it)."""

    code = "run_not_cancellable"
    status = 409


class SessionBusy(AgentError):
    """The session has a run waiting for approval: resume or reject it before starting another."""

    code = "session_awaiting_approval"
    status = 409


class ToolSetupError(AgentError):
    """An agent's tools could not be assembled (MCP server down, OpenAPI document unusable)."""

    code = "tool_setup"
    status = 502
