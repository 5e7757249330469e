"""The LangGraph graph: nodes wired with conditional edges, `Send` fan-out and one interrupt."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from nexus.pipeline.deps import Deps
from nexus.pipeline.nodes_back import BackNodes
from nexus.pipeline.nodes_front import FrontNodes
from nexus.pipeline.state import RunState


def build_graph(deps: Deps, checkpointer: Any) -> Any:
    front, back = FrontNodes(deps), BackNodes(deps)
    # Typed as Any: the stubs cannot match our guarded async nodes to their overloads.
    g: Any = StateGraph(RunState)
    g.add_node("compress", front.prepare)
    g.add_node("classify", front.classify)
    g.add_node("clarify", front.clarify)
    g.add_node("self_answer", front.self_answer)
    g.add_node("route", front.route)
    g.add_node("worker", back.worker)
    g.add_node("aggregate", back.aggregate)
    g.add_node("judge", back.judge)
    g.add_node("escalate", back.escalate)
    g.add_node("qa", back.qa)
    g.add_node("qa_retry", back.qa_retry)
    g.add_node("fallback", back.fallback)
    g.add_node("deliver", back.deliver)

    g.add_edge(START, "compress")
    g.add_conditional_edges("compress", _ok_or_fallback("classify"), ["classify", "fallback"])
    g.add_conditional_edges("classify", _after_classify, ["clarify", "self_answer", "route", "fallback"])
    g.add_edge("clarify", "classify")
    g.add_conditional_edges("self_answer", _ok_or_fallback("qa"), ["qa", "fallback"])
    g.add_conditional_edges("route", _fan_out, ["worker", "fallback"])
    g.add_edge("worker", "aggregate")
    g.add_conditional_edges("aggregate", _after_aggregate, ["judge", "qa", "fallback"])
    g.add_conditional_edges("judge", _after_judge, ["escalate", "qa", "fallback"])
    g.add_conditional_edges("escalate", _ok_or_fallback("qa"), ["qa", "fallback"])
    g.add_conditional_edges("qa", _after_qa, ["qa_retry", "deliver"])
    g.add_edge("qa_retry", "qa")
    g.add_edge("fallback", "qa")
    g.add_edge("deliver", END)
    return g.compile(checkpointer=checkpointer)


def _ok_or_fallback(nxt: str) -> Any:
    def choose(state: RunState) -> str:
        return "fallback" if state.get("failed") else nxt

    return choose


def _after_classify(state: RunState) -> str:
    if state.get("failed"):
        return "fallback"
    c = state["classification"]
    if c["ambiguous"] and not state.get("clarified") and state.get("clarify", True):
        return "clarify"
    if c["can_self_answer"] and not c["critical"]:
        return "self_answer"
    return "route"


def _fan_out(state: RunState) -> Any:
    if state.get("failed"):
        return "fallback"
    return [Send("worker", task) for task in state.get("tasks") or []]


def _after_aggregate(state: RunState) -> str:
    if state.get("failed"):
        return "fallback"
    # A tool call is the client's to run, not an answer to judge.
    if state["classification"]["critical"] and not state.get("tool_calls"):
        return "judge"
    return "qa"


def _after_judge(state: RunState) -> str:
    if state.get("failed"):
        return "fallback"
    judge = state.get("judge")
    return "qa" if judge is not None and judge["passed"] else "escalate"


def _after_qa(state: RunState) -> str:
    return "qa_retry" if state["qa"].get("will_retry") else "deliver"
