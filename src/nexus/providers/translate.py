"""Small helpers shared by the adapters that translate OpenAI messages to another protocol."""

from __future__ import annotations

import re
from typing import Any

import orjson

from nexus.providers.types import ChatMessage

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.+)$", re.S)


def data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a `data:...;base64,` URL, else None."""
    m = _DATA_URL.match(url)
    return (m["mime"], m["data"]) if m else None


def image_url_of(part: dict[str, Any]) -> str:
    img = part.get("image_url")
    if isinstance(img, dict):
        return str(img.get("url", ""))
    return str(img or "")


def arguments(call: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI tool call's arguments (a JSON string) as an object; non-objects are wrapped."""
    raw = (call.get("function") or {}).get("arguments") or "{}"
    try:
        value = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    except orjson.JSONDecodeError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"value": value}


def tool_names(messages: list[ChatMessage]) -> dict[str, str]:
    """tool_call_id → function name, from the assistant turns (Gemini answers by name, not id)."""
    out: dict[str, str] = {}
    for m in messages:
        for call in m.tool_calls or []:
            name = (call.get("function") or {}).get("name")
            if call.get("id") and name:
                out[call["id"]] = name
    return out


def system_text(messages: list[ChatMessage]) -> str:
    return "\n\n".join(m.text() for m in messages if m.role in ("system", "developer") and m.text())


def json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


JSON_ONLY = "Respond with a single valid JSON object and nothing else."
