"""`LLMClassifier`: ask a cheap model for the domain and flags; same `Classification` shape (method "llm").

Routing never imports providers: the caller injects `complete(prompt) -> reply text`. Whatever the model
returns is parsed tolerantly (code fences, text around the JSON, wrong case); missing or invalid fields come
from the embedding classifier, which also answers outright when the call or the parse fails.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from nexus.routing.base import Classification
from nexus.routing.classifier import Classifier
from nexus.routing.keywords import DOMAINS

log = logging.getLogger(__name__)

COMPLEXITIES = ("trivial", "simple", "medium", "complex")

PROMPT = """Classify the user request below. Reply with one JSON object and nothing else:
{{"domain": one of {domains}, "complexity": one of {complexities},
 "ambiguous": true if it cannot be answered without a clarifying question,
 "critical": true if a wrong answer could cause harm (health, money, production outages)}}

Request:
<<<
{text}
>>>"""

_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class LLMParseError(ValueError):
    """The model's reply held no JSON object with a valid domain."""


def parse_reply(reply: str) -> dict[str, Any]:
    """The first JSON object in `reply`, keys lower-cased; fields that are invalid are dropped."""
    found = _OBJECT.search(reply)
    if not found:
        raise LLMParseError(f"no JSON object in reply: {reply[:80]!r}")
    try:
        raw = json.loads(found.group(0))
    except json.JSONDecodeError as exc:
        raise LLMParseError(f"invalid JSON in reply: {exc}") from exc
    if not isinstance(raw, dict):
        raise LLMParseError("reply JSON is not an object")
    fields = {str(k).strip().lower(): v for k, v in raw.items()}
    out: dict[str, Any] = {}
    for key, allowed in (("domain", DOMAINS), ("complexity", COMPLEXITIES)):
        value = str(fields.get(key, "")).strip().lower()
        if value in allowed:
            out[key] = value
    for key in ("ambiguous", "critical"):
        flag = fields.get(key)
        if isinstance(flag, bool):
            out[key] = flag
        elif isinstance(flag, str) and flag.strip().lower() in ("true", "false"):
            out[key] = flag.strip().lower() == "true"
    if "domain" not in out:
        raise LLMParseError(f"no valid domain in reply: {fields.get('domain')!r}")
    return out


class LLMClassifier:
    def __init__(self, complete: Callable[[str], Awaitable[str]], fallback: Classifier | None = None) -> None:
        self._complete = complete
        self.fallback = fallback or Classifier()

    async def classify(self, text: str) -> Classification:
        base = self.fallback.classify(text)
        try:
            reply = await self._complete(
                PROMPT.format(domains=list(DOMAINS), complexities=list(COMPLEXITIES), text=text)
            )
            fields = parse_reply(reply)
        except Exception as exc:  # any model or parse failure: the embedding answer stands
            log.warning("LLM classifier failed, using %s: %s", base.method, exc)
            return base
        domain = fields["domain"]
        # The model's pick gets the probability mass; the embedding scores stay visible for explanations.
        scores = {d: (1.0 if d == domain else 0.0) for d in DOMAINS}
        return base.model_copy(update={**fields, "domain_scores": scores, "method": "llm"})
