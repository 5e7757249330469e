"""Background work on an existing queue engine: taskiq on Redis Streams (consumer groups, XAUTOCLAIM,
ack after commit) when NEXUS_REDIS_URL is set, an in-process broker otherwise; job rows in the database
(status, attempts, leases, idempotency, dead letters); signed callbacks; a single active scheduler.

Job code sees only `JobQueue` and `JobContext`; see docs/jobs.md.
"""

from nexus.jobs.callbacks import deliver_callback, sign, validate_callback_url, verify_signature
from nexus.jobs.context import Enqueued, JobContext, JobRequest, Outbox
from nexus.jobs.engine import JobEngine
from nexus.jobs.errors import (
    InvalidPayload,
    JobConflict,
    JobError,
    LeaseLost,
    PermanentFailure,
    RetryLater,
    UnknownJobKind,
)
from nexus.jobs.queue import JobQueue, JobView
from nexus.jobs.registry import job, kinds, load_modules
from nexus.jobs.scheduler import Schedule, schedule
from nexus.jobs.work_orders import SubmittedWorkOrder, TurnAnswer, TurnRequest, TurnRunner, submit_work_order

__all__ = [
    "Enqueued",
    "InvalidPayload",
    "JobConflict",
    "JobContext",
    "JobEngine",
    "JobError",
    "JobQueue",
    "JobRequest",
    "JobView",
    "LeaseLost",
    "Outbox",
    "PermanentFailure",
    "RetryLater",
    "Schedule",
    "SubmittedWorkOrder",
    "TurnAnswer",
    "TurnRequest",
    "TurnRunner",
    "UnknownJobKind",
    "deliver_callback",
    "job",
    "kinds",
    "load_modules",
    "schedule",
    "sign",
    "submit_work_order",
    "validate_callback_url",
    "verify_signature",
]
