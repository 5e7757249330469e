"""Prompts of the orchestration roles (aggregator, judge, escalation, QA retry, compressor).

Per-domain expert prompts are configuration (`experts:` in the catalogue), not here.
"""

from __future__ import annotations

from typing import Any

AGGREGATOR_SYSTEM = (
    "You are the aggregator of a team of expert models. Synthesise their answers into one coherent, "
    "complete answer to the user's request. Do not mention the experts. If parts are missing, answer "
    "what you can and say briefly what could not be covered."
)
ENHANCE_SYSTEM = (
    "You are an editor. Lightly improve the expert's answer below for clarity and completeness without "
    "changing its substance. Return only the improved answer."
)
JUDGE_SYSTEM = (
    "You are a strict reviewer. Score the answer to the user's request from 1 (wrong or harmful) to 10 "
    "(excellent). Reply with JSON with score and critique only, like "
    '{"score": 8, "critique": "one or two sentences"}.'
)
ESCALATION_SYSTEM = (
    "You are the senior expert. A previous answer to the request below was judged insufficient. "
    "Write a better, complete answer that fixes the problems the reviewer found. Return only the answer."
)
COMPRESS_SYSTEM = (
    "Summarise the earlier part of this conversation in a few sentences, keeping names, numbers, "
    "decisions and open questions. Return only the summary."
)


def fold_clarification(message: str, question: str, reply: str) -> str:
    """The request as workers see it after the user answered the clarifying question."""
    return f"{message}\n\n(Clarification — asked: {question} Answer: {reply})"


def aggregator_messages(request: str, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    parts = []
    missing = []
    for r in sorted(results, key=lambda r: r["index"]):
        if r.get("ok"):
            parts.append(f"## Part {r['index'] + 1}: {r['text']}\n{r['answer']}")
        else:
            missing.append(
                f"- Part {r['index'] + 1} ({r['text']}): not available ({r.get('error', 'failed')})"
            )
    body = f"User request:\n{request}\n\nExpert answers:\n\n" + "\n\n".join(parts)
    if missing:
        body += "\n\nMissing parts (their experts failed; say what is missing):\n" + "\n".join(missing)
    return [{"role": "system", "content": AGGREGATOR_SYSTEM}, {"role": "user", "content": body}]


def enhance_messages(request: str, answer: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": ENHANCE_SYSTEM},
        {"role": "user", "content": f"Request:\n{request}\n\nExpert answer:\n{answer}"},
    ]


def judge_messages(request: str, answer: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": f"Score the answer.\n\nRequest:\n{request}\n\nAnswer:\n{answer}"},
    ]


def escalation_messages(request: str, answer: str, critique: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": ESCALATION_SYSTEM},
        {
            "role": "user",
            "content": f"Request:\n{request}\n\nPrevious answer:\n{answer}\n\nReviewer's critique:\n{critique}",
        },
    ]


def qa_retry_messages(
    context: list[dict[str, Any]], answer: str, failures: list[str]
) -> list[dict[str, Any]]:
    feedback = "QA feedback: your answer failed these checks:\n" + "\n".join(f"- {f}" for f in failures)
    feedback += "\nRewrite the complete answer so that it passes them. Return only the answer."
    return [*context, {"role": "assistant", "content": answer}, {"role": "user", "content": feedback}]


def compress_messages(old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    transcript = "\n".join(f"{m.get('role')}: {m.get('content')}" for m in old)
    return [{"role": "system", "content": COMPRESS_SYSTEM}, {"role": "user", "content": transcript}]
