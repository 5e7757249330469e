from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest

from nexus.store.metrics import UnknownPeriod, percentile, period_start, summarise


def test_percentile_matches_numpy_linear() -> None:
    values = sorted([3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0])
    for q in (0, 50, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([], 50) is None


def test_periods() -> None:
    now = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)
    assert period_start("today", now) == datetime(2025, 3, 10, tzinfo=UTC)
    assert period_start("7d", now) == datetime(2025, 3, 3, 15, 30, tzinfo=UTC)
    with pytest.raises(UnknownPeriod, match="today, 24h, 7d, 30d"):
        period_start("1y", now)


def test_summarise_buckets_calls_by_hour_and_provider() -> None:
    ts = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)
    calls = [
        SimpleNamespace(
            ts=ts,
            provider="openai",
            model="a",
            success=True,
            tokens_in=1,
            tokens_out=2,
            cost_usd=0.5,
            latency_ms=10.0,
        ),
        SimpleNamespace(
            ts=ts.replace(minute=59),
            provider="openai",
            model="a",
            success=False,
            tokens_in=1,
            tokens_out=0,
            cost_usd=0.0,
            latency_ms=20.0,
        ),
    ]
    out = summarise([], calls)
    assert out["timeseries"] == [
        {
            "hour": "2025-03-10T15:00:00+00:00",
            "provider": "openai",
            "requests": 2,
            "errors": 1,
            "tokens_in": 2,
            "tokens_out": 2,
            "cost_usd": 0.5,
        }
    ]
    assert out["totals"]["requests"] == 0 and out["totals"]["latency_ms"]["p50"] is None
