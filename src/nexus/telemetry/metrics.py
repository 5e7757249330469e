"""Prometheus metrics in a registry owned by one `Metrics` object (no default-registry side effects).

Label values are bounded on purpose: routes are templates, models are catalogue ids, and any other
value is checked against a short safe shape, so no user or prompt text can become a time series.
Labelled children are cached per label tuple, because `metric.labels(...)` costs several µs and the
passthrough path observes every request and every upstream call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

OTHER = "other"
UNMATCHED_ROUTE = "unmatched"
# A label value that could be user text is replaced by OTHER; this also caps cardinality.
_SAFE_LABEL = re.compile(r"[A-Za-z0-9_.:/{}\-]{1,80}")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Beyond this many distinct label tuples a family stops caching (values are still bounded above).
_MAX_CACHED = 4096

HTTP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
JUDGE_BUCKETS = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)


class CallLike(Protocol):
    """What `observe_call` reads from a metering record (nexus.providers.metering.CallRecord)."""

    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    success: bool


def safe_label(value: object) -> str:
    text = str(value)
    return text if _SAFE_LABEL.fullmatch(text) else OTHER


class Metrics:
    """Every Nexus metric, in its own `CollectorRegistry`; create a fresh one per test or app."""

    def __init__(
        self, models: Iterable[str] | None = None, registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        # None accepts any safe-shaped model id; a catalogue's ids bound the label to that catalogue.
        self._models: frozenset[str] | None = frozenset(models) if models is not None else None
        r = self.registry
        self.http_requests = Counter(
            "nexus_http_requests_total", "HTTP requests by route template, method and status.",
            ("route", "method", "status"), registry=r,
        )  # fmt: skip
        self.http_duration = Histogram(
            "nexus_http_request_duration_seconds", "HTTP request latency (until the response is fully sent).",
            ("route", "method"), buckets=HTTP_BUCKETS, registry=r,
        )  # fmt: skip
        self.upstream_duration = Histogram(
            "nexus_upstream_request_duration_seconds", "Latency of one upstream model call.",
            ("model", "provider"), buckets=UPSTREAM_BUCKETS, registry=r,
        )  # fmt: skip
        self.upstream_requests = Counter(
            "nexus_upstream_requests_total", "Upstream model calls by outcome (success|error).",
            ("model", "provider", "outcome"), registry=r,
        )  # fmt: skip
        self.tokens = Counter(
            "nexus_tokens_total", "Tokens by model, provider and direction (input|output).",
            ("model", "provider", "direction"), registry=r,
        )  # fmt: skip
        self.cost = Counter(
            "nexus_cost_usd_total", "Estimated spend in USD.", ("model", "provider"), registry=r
        )
        self.routing_decisions = Counter(
            "nexus_routing_decisions_total", "Routing decisions by chosen model and deciding rule.",
            ("model", "rule"), registry=r,
        )  # fmt: skip
        self.fallbacks = Counter(
            "nexus_fallbacks_total", "Fallbacks from one model to the next in its chain.",
            ("from_model", "to_model"), registry=r,
        )  # fmt: skip
        self.escalations = Counter(
            "nexus_escalations_total", "Answers escalated after a low judge score.", registry=r
        )
        self.judge_score = Histogram(
            "nexus_judge_score", "Judge scores (1-10).", buckets=JUDGE_BUCKETS, registry=r
        )
        self.accounting_queue_depth = Gauge(
            "nexus_accounting_queue_depth", "Records waiting in the accounting queue.", registry=r
        )
        self.accounting_dropped = Counter(
            "nexus_accounting_dropped_total",
            "Accounting records dropped because the queue was full.",
            registry=r,
        )
        self.rate_limit_rejections = Counter(
            "nexus_rate_limit_rejections_total", "Requests rejected by a rate limit, by limit kind.",
            ("limit",), registry=r,
        )  # fmt: skip
        self.rate_limit_redis_fallbacks = Counter(
            "nexus_rate_limit_redis_fallbacks_total", "Rate-limit checks served in-process because Redis failed.",
            registry=r,
        )  # fmt: skip
        self.budget_soft_limit_hits = Counter(
            "nexus_budget_soft_limit_hits_total", "Requests that crossed a budget's soft limit.", registry=r
        )
        self.guard_blocks = Counter(
            "nexus_guard_blocks_total", "Guard blocks by check category and stage (input|output).",
            ("category", "stage"), registry=r,
        )  # fmt: skip
        self._call_children: dict[tuple[str, str, bool], tuple[Any, Any, Any, Any, Any]] = {}
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._children: dict[tuple[Any, ...], Any] = {}

    # -- label hygiene -------------------------------------------------------------------------
    def model_label(self, model: str) -> str:
        if self._models is not None:
            return model if model in self._models else OTHER
        return safe_label(model)

    def _child(self, metric: Any, *labels: str) -> Any:
        """A cached labelled child; `labels` must already be bounded (see the callers)."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = metric.labels(*labels)
            if len(self._children) < _MAX_CACHED:
                self._children[key] = child
        return child

    # -- observations ----------------------------------------------------------------------------
    def observe_call(self, record: CallLike) -> None:
        """One upstream call (a metering listener: `meter.subscribe(metrics.observe_call)`)."""
        key = (record.model, record.provider, record.success)
        children = self._call_children.get(key)
        if children is None:
            children = self._call_children_for(*key)
        duration, outcome, tokens_in, tokens_out, cost = children
        duration.observe(record.latency_ms / 1000.0)
        outcome.inc()
        if record.prompt_tokens:
            tokens_in.inc(record.prompt_tokens)
        if record.completion_tokens:
            tokens_out.inc(record.completion_tokens)
        if record.cost_usd:
            cost.inc(record.cost_usd)

    def _call_children_for(self, model: str, provider: str, success: bool) -> tuple[Any, Any, Any, Any, Any]:
        m, p = self.model_label(model), safe_label(provider)
        children = (
            self.upstream_duration.labels(m, p),
            self.upstream_requests.labels(m, p, "success" if success else "error"),
            self.tokens.labels(m, p, "input"),
            self.tokens.labels(m, p, "output"),
            self.cost.labels(m, p),
        )
        if len(self._call_children) < _MAX_CACHED:
            self._call_children[(model, provider, success)] = children
        return children

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request; `route` is the route TEMPLATE (or UNMATCHED_ROUTE), never the raw path."""
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            r = safe_label(route)
            mth = method if method in _METHODS else OTHER
            children = (
                self.http_requests.labels(r, mth, str(int(status))),
                self.http_duration.labels(r, mth),
            )
            if len(self._request_children) < _MAX_CACHED:
                self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_routing(self, model: str, rule: str) -> None:
        self._child(self.routing_decisions, self.model_label(model), safe_label(rule)).inc()

    def observe_fallback(self, from_model: str, to_model: str) -> None:
        self._child(self.fallbacks, self.model_label(from_model), self.model_label(to_model)).inc()

    def observe_escalation(self) -> None:
        self.escalations.inc()

    def observe_judge(self, score: float) -> None:
        self.judge_score.observe(score)

    def observe_rate_limited(self, limit: str) -> None:
        """A rejection by a rate limit; `limit` names its kind, e.g. "rpm", "tpm"."""
        self._child(self.rate_limit_rejections, safe_label(limit)).inc()

    def observe_redis_fallback(self) -> None:
        self.rate_limit_redis_fallbacks.inc()

    def observe_budget_soft_limit(self) -> None:
        self.budget_soft_limit_hits.inc()

    def observe_guard_block(self, category: str, stage: str = "input") -> None:
        self._child(self.guard_blocks, safe_label(category), safe_label(stage)).inc()

    def observe_accounting_dropped(self, count: int = 1) -> None:
        self.accounting_dropped.inc(count)

    def set_queue_depth(self, depth: int) -> None:
        self.accounting_queue_depth.set(depth)

    def bind_queue_depth(self, depth: Callable[[], float]) -> None:
        """Read the accounting queue's depth at scrape time (e.g. `lambda: queue.qsize()`)."""
        self.accounting_queue_depth.set_function(depth)

    def render(self) -> tuple[bytes, str]:
        """The exposition text for GET /metrics and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
