"""Prometheus metrics of one job-running process, in its own registry (served on the health port).

Label values are job kinds (registered names, a bounded set) and fixed outcome words, never payload text.
"""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0)
RUN_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)


class JobMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.outcomes = Counter(
            "nexus_jobs_outcomes_total",
            "Job attempts by how they ended: done, retried, dead, cancelled, recovered.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "nexus_jobs_queue_wait_seconds",
            "From enqueue to the start of an attempt.",
            ["kind"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.run_time = Histogram(
            "nexus_jobs_run_seconds",
            "Handler time per attempt.",
            ["kind"],
            buckets=RUN_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("nexus_jobs_running", "Jobs running in this process.", registry=self.registry)

    def started(self, kind: str, waited: timedelta) -> None:
        self.queue_wait.labels(kind).observe(max(0.0, waited.total_seconds()))
        self.in_flight.inc()

    def finished(self, kind: str, seconds: float) -> None:
        self.run_time.labels(kind).observe(seconds)
        self.in_flight.dec()

    def outcome(self, kind: str, outcome: str) -> None:
        self.outcomes.labels(kind, outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
