"""What the simulated (demo) models say: deterministic, request-dependent text, JSON and tool calls.

Everything is a pure function of the request and the model id, so the same question to the same
demo model always gets the same answer, and different models answer a little differently.
"""

from __future__ import annotations

import ast
import hashlib
import json
import operator
import re
from dataclasses import dataclass, field
from typing import Any

from nexus.providers.translate import json_dumps
from nexus.providers.types import ChatRequest

JUDGE_MARKERS = ("score the answer", "json with score")
LOW_SCORE_MARKERS = ("escalate", "critical-demo")
QA_DEMO_MARKER = "qa-retry-demo"
QA_FEEDBACK_MARKERS = ("qa feedback", "failed")
HIGH_SCORE, LOW_SCORE = 8, 4

_CORPUS = (
    "The key idea is to separate what must be true from what is merely convenient.",
    "A good first step is to state the assumptions explicitly, because most mistakes hide there.",
    "In practice, the simplest approach that handles the edge cases is usually the right one.",
    "It helps to check the result against a small example you can verify by hand.",
    "Trade-offs matter here: speed, cost and clarity rarely peak at the same point.",
    "Experts usually recommend measuring before optimising, so the effort goes where it counts.",
    "The answer depends on context, but the common case is covered by the steps above.",
    "Keep the solution small and well named; it will be read far more often than it is written.",
    "A useful sanity check is to ask what would happen with empty, huge or malformed input.",
    "If the requirements change, this structure keeps the change local to one place.",
    "Historically, this question has been answered in several ways, and the modern consensus is pragmatic.",
    "Finally, write down the decision and the reason, so the next person does not have to rediscover it.",
)
_CODE = re.compile(
    r"\b(code|function|python|javascript|typescript|bug|implement|class|sql|regex|script|compile|api|def)\b",
    re.I,
)
_MATH = re.compile(
    r"\b(calculate|compute|solve|equation|integral|derivative|sum|product|percent|math)\b", re.I
)
_EXPR = re.compile(r"[\d.]+(?:\s*[-+*/^]\s*\(?\s*[\d.]+\s*\)?)+")
_OPS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
}


@dataclass(slots=True)
class DemoAnswer:
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = "stop"


def seed_of(request: ChatRequest, model_id: str) -> int:
    joined = model_id + "\x00" + "\x00".join(m.text() for m in request.messages)
    return int.from_bytes(hashlib.sha256(joined.encode()).digest()[:8], "big")


def _has(text: str, markers: tuple[str, ...]) -> bool:
    low = text.lower()
    return any(m in low for m in markers)


def _subject(text: str) -> str:
    first = re.split(r"(?<=[.?!])\s|\n", text.strip(), maxsplit=1)[0]
    return (first[:80].rstrip() + "…") if len(first) > 80 else first


def domain_of(text: str) -> str:
    if _CODE.search(text):
        return "code"
    if _MATH.search(text) or _EXPR.search(text):
        return "math"
    return "general"


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ValueError("exponent too large")
        return float(_OPS[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return float(_OPS[type(node.op)](_eval(node.operand)))
    raise ValueError("unsupported expression")


def _arithmetic(text: str) -> tuple[str, str] | None:
    m = _EXPR.search(text)
    if not m:
        return None
    expr = m.group(0).strip()
    try:
        value = _eval(ast.parse(expr.replace("^", "**"), mode="eval").body)
    except (ValueError, SyntaxError, ZeroDivisionError, OverflowError):
        return None
    shown = str(int(value)) if value.is_integer() else f"{value:.6g}"
    return expr, shown


def _sentences(seed: int, n: int) -> list[str]:
    start = seed % len(_CORPUS)
    step = 1 + (seed >> 16) % (len(_CORPUS) - 1)
    return [_CORPUS[(start + i * step) % len(_CORPUS)] for i in range(n)]


def question_of(request: ChatRequest) -> str:
    """The user's actual question: a QA-feedback turn is not one (and must not be echoed back)."""
    for m in reversed(request.messages):
        if m.role == "user" and "qa feedback" not in m.text().lower():
            return m.text()
    return request.last_user_text()


def prose(request: ChatRequest, model_id: str, seed: int) -> str:
    question = question_of(request)
    subject = _subject(question) or "your request"
    lead = f"(Simulated answer from {model_id}.) Regarding “{subject}”: here is a concise take."
    domain = domain_of(question)
    body = " ".join(_sentences(seed, 2 + seed % 3))
    if domain == "code":
        words = re.findall(r"[a-z]+", subject.lower())
        name = "_".join(w for w in words if len(w) > 3)[:30] or "solution"
        code = (
            f"```python\ndef {name}(items):\n"
            f'    """Simulated example for: {subject.replace(chr(34), chr(39))}"""\n'
            "    return [item for item in items if item is not None]\n```"
        )
        return f"{lead}\n\n{code}\n\n{body}"
    if domain == "math":
        arith = _arithmetic(question)
        if arith:
            expr, value = arith
            steps = (
                f"Step 1: read the expression {expr}.\n"
                "Step 2: apply the usual order of operations (powers, then × and ÷, then + and −).\n"
                f"Step 3: evaluate to get {value}.\n\nTherefore, the answer is **{value}**."
            )
        else:
            steps = (
                "Step 1: name the unknowns and write down what is given.\n"
                "Step 2: set up the relation between them and simplify.\n"
                "Step 3: solve and check the result by substituting it back."
            )
        return f"{lead}\n\n{steps}\n\n{body}"
    return f"{lead} {body}"


def judge_verdict(request: ChatRequest) -> str:
    judged = "\n".join(m.text() for m in request.messages if m.role not in ("system", "developer"))
    low = _has(judged, LOW_SCORE_MARKERS)
    critique = (
        "Simulated review: the answer misses important points and should be escalated."
        if low
        else "Simulated review: the answer is relevant, correct and complete enough."
    )
    return json_dumps({"score": LOW_SCORE if low else HIGH_SCORE, "critique": critique})


def is_judge(request: ChatRequest) -> bool:
    return any(_has(m.text(), JUDGE_MARKERS) for m in request.messages)


def sample_json(schema: Any, seed: int, hint: str, domain: str) -> Any:
    """A value valid against a simple JSON schema (types, properties, items, enum, bounds)."""
    if not isinstance(schema, dict):
        return hint
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        options = schema["enum"]
        for opt in options:
            if isinstance(opt, str) and (opt == domain or opt.lower() in hint.lower()):
                return opt
        return options[seed % len(options)]
    for combo in ("anyOf", "oneOf", "allOf"):
        if schema.get(combo):
            return sample_json(schema[combo][0], seed, hint, domain)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        if not props:
            return {"answer": hint, "simulated": True}
        return {
            k: sample_json(v, seed + i, f"{k} for {hint}"[:60], domain)
            for i, (k, v) in enumerate(props.items())
        }
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1)
        return [sample_json(schema.get("items", {}), seed + i, hint, domain) for i in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        high = schema.get("maximum", low + 10)
        value = low + seed % (int(high - low) + 1) if high >= low else low
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = hint or "simulated"
    if schema.get("maxLength"):
        text = text[: schema["maxLength"]]
    return text.ljust(int(schema.get("minLength", 0)), ".")


def json_answer(request: ChatRequest, model_id: str, seed: int) -> str:
    fmt = request.response_format or {}
    question = question_of(request)
    subject = _subject(question) or "request"
    schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
    if schema:
        return json_dumps(sample_json(schema, seed, subject, domain_of(question)))
    return json_dumps({"answer": prose(request, model_id, seed), "model": model_id, "simulated": True})


_URL = re.compile(r"https?://[^\s'\"<>)]+")


def _properties(fn: dict[str, Any]) -> dict[str, Any]:
    """The tool's string-typed parameters (the ones a question can fill)."""
    props = (fn.get("parameters") or {}).get("properties")
    if not isinstance(props, dict):
        return {}
    return {k: v for k, v in props.items() if isinstance(v, dict) and v.get("type", "string") == "string"}


def _pick_tool(fns: list[dict[str, Any]], wanted: str | None, question: str) -> dict[str, Any]:
    """The forced tool; else one that fits the question (an expression → a tool taking `expression`,
    a URL → one taking `url`); else a search tool (taking `query`); else the first."""
    if wanted:
        return next((f for f in fns if f.get("name") == wanted), fns[0])
    fits = [
        ("expression", _arithmetic(question) is not None),
        ("url", bool(_URL.search(question))),
        ("query", True),
    ]
    for prop, applies in fits:
        if applies:
            found = next((f for f in fns if prop in _properties(f)), None)
            if found is not None:
                return found
    return fns[0]


def _arguments(fn: dict[str, Any], question: str, seed: int) -> dict[str, Any]:
    schema = fn.get("parameters") or {"type": "object", "properties": {}}
    args = sample_json(schema, seed, _subject(question), "")
    if not isinstance(args, dict):
        return {}
    props = _properties(fn)
    arith = _arithmetic(question)
    url = _URL.search(question)
    if "expression" in props and arith is not None:
        args["expression"] = arith[0]
    if "url" in props and url is not None:
        args["url"] = url.group(0).rstrip(".,;")
    if "query" in props:
        args["query"] = question.strip()[:300]
    if "method" in props:
        args["method"] = "GET"
    if "required" not in schema:
        return args
    # Optional arguments we could only invent are left out, as a real model would.
    keep = set(schema["required"]) | {"expression", "url", "query", "method"}
    return {k: v for k, v in args.items() if k in keep}


def tool_call(request: ChatRequest, seed: int) -> dict[str, Any] | None:
    """Call a tool when tools are offered and the last turn is the user's (not a tool result)."""
    if not request.tools or request.tool_choice == "none" or request.messages[-1].role != "user":
        return None
    chosen = request.tool_choice
    wanted = (chosen.get("function") or {}).get("name") if isinstance(chosen, dict) else None
    fns = [t.get("function") or {} for t in request.tools]
    question = request.last_user_text()
    fn = _pick_tool(fns, wanted, question)
    return {
        "id": f"call_demo_{seed % 10**8:08d}",
        "type": "function",
        "function": {"name": fn.get("name", "tool"), "arguments": json_dumps(_arguments(fn, question, seed))},
    }


def _tool_digest(content: str) -> str:
    """One line about a tool result: its `result` when it has one, else its start."""
    text = content.strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict) and "result" in value:
        return f"the result is {value['result']}"
    if isinstance(value, dict) and "status" in value:
        return f"it answered HTTP {value['status']}"
    return (text[:160] + "…") if len(text) > 160 else text


def after_tools(request: ChatRequest, model_id: str) -> str:
    """The answer once tool results are in: it says what each tool returned."""
    names = {}
    for m in request.messages:
        for call in m.tool_calls or []:
            names[call.get("id")] = (call.get("function") or {}).get("name", "tool")
    results = [m for m in request.messages if m.role == "tool"]
    last_assistant = max((i for i, m in enumerate(request.messages) if m.role == "assistant"), default=-1)
    recent = [m for m in request.messages[last_assistant + 1 :] if m.role == "tool"] or results[-1:]
    lines = [f"- {names.get(m.tool_call_id, 'tool')}: {_tool_digest(m.text())}" for m in recent]
    subject = _subject(question_of(request)) or "your request"
    return f"(Simulated answer from {model_id}.) Regarding “{subject}”, from the tools:\n" + "\n".join(lines)


def compose(request: ChatRequest, model_id: str) -> DemoAnswer:
    seed = seed_of(request, model_id)
    if is_judge(request):
        return DemoAnswer(judge_verdict(request))
    call = tool_call(request, seed)
    if call is not None:
        return DemoAnswer("", [call], "tool_calls")
    if request.messages[-1].role == "tool":
        return DemoAnswer(after_tools(request, model_id))
    if (request.response_format or {}).get("type") in ("json_object", "json_schema"):
        return DemoAnswer(json_answer(request, model_id, seed))
    text = prose(request, model_id, seed)
    everything = "\n".join(m.text() for m in request.messages)
    if QA_DEMO_MARKER in everything.lower() and not _has(everything, QA_FEEDBACK_MARKERS):
        text += "\n\nTODO: finish the remaining part of this answer."
    return DemoAnswer(text)
