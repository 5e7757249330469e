"""Tools from OpenAPI 3 documents: one tool per operation, its arguments the operation's parameters
(and `body` for a JSON request body), each call made through the execution engine."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import yaml

from nexus.agents.tools.base import FunctionTool, ToolContext, ToolFailed, ToolSpec
from nexus.agents.tools.http import exec_context, response_view
from nexus.execution import ExecContext, ExecutionEngine, ExecutionError, ExternalRequest

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_MAX_REF_DEPTH = 12
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")


class OpenApiError(ValueError):
    """The document is not a usable OpenAPI 3 description."""


def _resolve(node: Any, doc: Mapping[str, Any], depth: int = 0) -> Any:
    """Inline local `$ref`s (`#/components/...`); cycles and foreign refs become an open schema."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#/") or depth >= _MAX_REF_DEPTH:
                return {}
            target: Any = doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise OpenApiError(f"unresolvable reference {ref!r}")
                target = target[part]
            return _resolve(target, doc, depth + 1)
        return {k: _resolve(v, doc, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, doc, depth) for v in node]
    return node


def _tool_name(prefix: str, op_id: str) -> str:
    name = _UNSAFE.sub("_", f"{prefix}__{op_id}").strip("_")
    return name[:64]


class _Operation:
    def __init__(
        self, method: str, path: str, op: dict[str, Any], inherited: list[Any], doc: Mapping[str, Any]
    ):
        self.method = method.upper()
        self.path = path
        self.id = str(op.get("operationId") or f"{method}_{path}")
        params: dict[tuple[str, str], dict[str, Any]] = {}
        for p in [*inherited, *(op.get("parameters") or [])]:
            p = _resolve(p, doc)
            if isinstance(p, dict) and p.get("in") in ("path", "query", "header") and p.get("name"):
                params[(p["in"], p["name"])] = p
        self.params = list(params.values())
        body = _resolve(op.get("requestBody") or {}, doc)
        content = body.get("content") or {}
        json_media = next((v for k, v in content.items() if "json" in k), None)
        self.body_schema: dict[str, Any] | None = (
            (json_media or {}).get("schema") if json_media is not None else None
        )
        self.body_required = bool(body.get("required")) and self.body_schema is not None
        self.description = " ".join(str(op.get(k, "")).strip() for k in ("summary", "description")).strip()

    def schema(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        required: list[str] = []
        for p in self.params:
            prop = dict(p.get("schema") or {"type": "string"})
            if p.get("description"):
                prop["description"] = str(p["description"])
            props[p["name"]] = prop
            if p["in"] == "path" or p.get("required"):
                required.append(p["name"])
        if self.body_schema is not None:
            props["body"] = self.body_schema
            if self.body_required:
                required.append("body")
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            schema["required"] = required
        return schema

    def request(self, base_url: str, args: dict[str, Any], headers: Mapping[str, str]) -> ExternalRequest:
        path = self.path
        query: dict[str, Any] = {}
        sent = dict(headers)
        for p in self.params:
            if p["name"] not in args:
                continue
            value = args[p["name"]]
            if p["in"] == "path":
                path = path.replace("{" + p["name"] + "}", quote(str(value), safe=""))
            elif p["in"] == "query":
                query[p["name"]] = value if isinstance(value, str | int | float | bool) else str(value)
            else:
                sent[p["name"]] = str(value)
        return ExternalRequest(
            method=self.method,  # type: ignore[arg-type]
            url=base_url.rstrip("/") + path,
            params=query,
            headers=sent,
            json=args.get("body") if self.body_schema is not None else None,
        )


def operations_of(document: Mapping[str, Any]) -> list[_Operation]:
    if not isinstance(document, Mapping) or not str(document.get("openapi", "")).startswith("3"):
        raise OpenApiError("not an OpenAPI 3 document (no `openapi: 3.x` field)")
    ops = []
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        inherited = item.get("parameters") or []
        for method in METHODS:
            if isinstance(item.get(method), dict):
                ops.append(_Operation(method, str(path), item[method], inherited, document))
    return ops


def tools_from_openapi(
    document: Mapping[str, Any],
    *,
    prefix: str,
    engine: ExecutionEngine,
    base_url: str | None = None,
    operations: Iterable[str] | None = None,
    headers: Mapping[str, str] | None = None,
    requires_approval: bool = False,
    spec_url: str | None = None,
) -> list[FunctionTool]:
    """One tool per operation (only `operations` when given, by operationId)."""
    servers = document.get("servers") or []
    base = base_url or (str(servers[0].get("url", "")) if servers and isinstance(servers[0], dict) else "")
    if spec_url and not base.startswith(("http://", "https://")):
        base = urljoin(spec_url, base or "/")
    if not base.startswith(("http://", "https://")):
        raise OpenApiError("no absolute base URL: set `base_url` or an absolute `servers[0].url`")
    wanted = set(operations) if operations is not None else None
    tools = []
    for op in operations_of(document):
        if wanted is not None and op.id not in wanted:
            continue
        spec = ToolSpec(
            name=_tool_name(prefix, op.id),
            description=(op.description or f"{op.method} {op.path}")[:1000],
            parameters=op.schema(),
            requires_approval=requires_approval,
            source=f"openapi:{prefix}",
        )
        tools.append(FunctionTool(spec, _caller(op, base, dict(headers or {}), engine)))
    if wanted is not None and len(tools) < len(wanted):
        missing = sorted(wanted - {op.id for op in operations_of(document)})
        raise OpenApiError(f"unknown operations: {', '.join(missing)}")
    return tools


def _caller(op: _Operation, base: str, headers: dict[str, str], engine: ExecutionEngine) -> Any:
    async def call(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        try:
            resp = await engine.request(exec_context(ctx), op.request(base, args, headers))
        except ExecutionError as exc:
            raise ToolFailed(exc.message) from None
        return response_view(resp.status, resp.headers, resp.text, resp.truncated)

    return call


def parse_document(text: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise OpenApiError(f"not JSON or YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise OpenApiError("the document is not an object")
    return doc


async def load_document(
    source: str, engine: ExecutionEngine, ctx: ExecContext, *, allow_files: bool
) -> dict[str, Any]:
    """An OpenAPI document from a URL (fetched through the engine) or, when allowed, a file."""
    if source.startswith(("http://", "https://")):
        try:
            resp = await engine.request(ctx, ExternalRequest(url=source))
        except ExecutionError as exc:
            raise OpenApiError(f"cannot fetch {source}: {exc.message}") from None
        if not resp.ok:
            raise OpenApiError(f"cannot fetch {source}: HTTP {resp.status}")
        return parse_document(resp.text)
    if not allow_files:
        raise OpenApiError("an OpenAPI document must be an http(s) URL here")
    try:
        return parse_document(Path(source).read_text(encoding="utf-8"))
    except OSError as exc:
        raise OpenApiError(f"cannot read {source}: {exc.strerror or exc}") from None
