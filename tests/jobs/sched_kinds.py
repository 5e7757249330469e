"""Loaded by the scheduler processes of test_processes (`--import jobs.sched_kinds`): a 1-second schedule."""

from __future__ import annotations

from nexus.jobs import schedule

from . import kinds  # noqa: F401  (registers test.effect, which the schedule enqueues)

schedule("every-second", "test.effect", every=1.0, payload={"tag": "tick"}, tenant="acme")
