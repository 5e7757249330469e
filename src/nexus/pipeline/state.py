"""The graph's state: plain JSON-able values only, so any checkpointer can persist a paused run."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


class RunState(TypedDict, total=False):
    run_id: str
    session_id: str
    tenant: str
    started_at: float
    # The user's request for this run (a clarification reply is folded into it).
    message: str
    # Earlier turns of the session ({"role", "content"}), kept by the checkpointer between runs.
    history: list[dict[str, Any]]
    # What workers see: compressed history + the request.
    context: list[dict[str, Any]]
    # Request options passed to workers (temperature, max_tokens, response_format, …).
    params: dict[str, Any]
    # The QA spec of this request (see nexus.pipeline.qa.spec_from_request).
    qa_spec: dict[str, Any]
    classification: dict[str, Any]
    # The router's decision for the whole request, made while classifying.
    decision: dict[str, Any]
    clarified: bool
    tasks: list[dict[str, Any]]
    fanout: bool
    results: Annotated[list[dict[str, Any]], operator.add]
    calls: Annotated[list[dict[str, Any]], operator.add]
    answer: str
    answer_model: str
    judge: dict[str, Any]
    qa: dict[str, Any]
    qa_attempts: int
    degraded: list[dict[str, Any]]
    # Set by a node that failed; the graph then falls back to one direct answer.
    failed: dict[str, Any] | None


class Task(TypedDict):
    """One unit of work for a worker (the whole request, or one subtask)."""

    index: int
    text: str
    model: str
    domain: str
    run_id: str
    tenant: str
    context: list[dict[str, Any]]
    params: dict[str, Any]
    stream: bool
