"""The graph's state, typed: nested TypedDicts over plain JSON values, so any checkpointer can persist a
paused run and the checkpoint JSON stays what it was. Nodes read fields they know are set directly
(`state["classification"]["critical"]`), not through `.get(...) or {}` chains."""

from __future__ import annotations

import operator
from typing import Annotated, Any, NotRequired, TypedDict


class Msg(TypedDict, total=False):
    """An OpenAI-shaped message as the checkpoint keeps it."""

    role: str
    content: Any
    name: str
    tool_calls: list[dict[str, Any]]
    tool_call_id: str


class ClassificationState(TypedDict):
    domain: str
    complexity: str
    can_self_answer: bool
    ambiguous: bool
    critical: bool
    subtasks: list[str]
    domain_scores: dict[str, float]
    method: str
    clarifying_question: str | None


class Failure(TypedDict):
    node: str
    error: str


class CallState(TypedDict):
    """One model call of the run (summed in the final event)."""

    role: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float


class TaskState(TypedDict):
    """One unit of work for a worker (the whole request, or one subtask)."""

    index: int
    text: str
    model: str
    domain: str
    run_id: str
    tenant: str
    context: list[Msg]
    params: dict[str, Any]
    stream: bool
    # The worker's tokens are the answer a streaming client receives live.
    deliverable: bool


# Kept as the old name: nodes and tests import `Task`.
Task = TaskState


class ResultState(TypedDict):
    index: int
    text: str
    model: str
    ok: bool
    answer: NotRequired[str]
    error: NotRequired[str]
    tool_calls: NotRequired[list[dict[str, Any]] | None]
    finish_reason: NotRequired[str]


class JudgeState(TypedDict):
    score: float
    critique: str
    threshold: float
    passed: bool
    model: str


class QAState(TypedDict, total=False):
    passed: bool
    failures: list[str]
    checks: list[str]
    error: bool
    attempt: int
    will_retry: bool
    masked: bool


class DegradedNote(TypedDict):
    node: str | None
    error: str | None
    fallback_model: str | None


class RunState(TypedDict, total=False):
    run_id: str
    session_id: str
    tenant: str
    started_at: float
    # The user's request for this run (a clarification reply is folded into it).
    message: str
    # Earlier turns of the session, kept by the checkpointer between runs.
    history: list[Msg]
    # What workers see: compressed history + the request (or the OpenAI client's whole message list).
    context: list[Msg]
    # Request options passed to the answering calls (temperature, max_tokens, response_format, tools, …).
    params: dict[str, Any]
    # The QA spec of this request (see nexus.pipeline.qa.spec_from_request).
    qa_spec: dict[str, Any]
    # The client streams and is not served a draft that could still be rejected: tokens go out live.
    stream: bool
    live: bool
    # Models the request may be routed to (e.g. only those supporting tools); None = any.
    allowed_models: list[str] | None
    # The input guard flagged the request (e.g. an injection attempt): the run is critical.
    flagged: bool
    # False where no one could answer a clarifying question (a queued work order).
    clarify: bool
    classification: ClassificationState
    # The router's decision for the whole request, made while classifying (a Decision as JSON).
    decision: dict[str, Any]
    clarified: bool
    tasks: list[TaskState]
    fanout: bool
    results: Annotated[list[ResultState], operator.add]
    calls: Annotated[list[CallState], operator.add]
    answer: str
    answer_model: str
    tool_calls: list[dict[str, Any]] | None
    finish_reason: str
    judge: JudgeState | None
    qa: QAState
    qa_attempts: int
    degraded: list[DegradedNote]
    # Set by a node that failed; the graph then falls back to one direct answer.
    failed: Failure | None
