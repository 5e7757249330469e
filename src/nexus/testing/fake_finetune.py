"""FakeFineTuning: FakeOpenAI plus OpenAI's Files and fine-tuning endpoints, as published:

    POST /v1/files                          multipart (file, purpose) → a file object
    GET  /v1/files/{id}                     the file object
    POST /v1/fine_tuning/jobs               {model, training_file, validation_file?, suffix?} → a job object
    GET  /v1/fine_tuning/jobs/{id}          the job; each read steps it one state forward
    POST /v1/fine_tuning/jobs/{id}/cancel   → the job, cancelled
    GET  /v1/fine_tuning/jobs/{id}/events   → {"object": "list", "data": [events, newest first]}

A job moves `validating_files → queued → running → succeeded | failed` one state per GET of it, so a
poller sees every state. Scripted per test:

    fake.plan(JobPlan(outcome="failed", error="Training file has 3 examples; at least 10 are required."))
    fake.fail_reads(503, times=2)     # the next two job reads answer 503 (a transient upstream error)
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from nexus.testing.fake_openai import FakeOpenAI, parse_form
from nexus.testing.server import Exchange

STEPS = ("validating_files", "queued", "running")
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class JobPlan:
    """How the next created job ends: `outcome` succeeded or failed (with `error` as the reason)."""

    outcome: str = "succeeded"
    error: str = "The job failed due to an internal error."
    error_code: str = "invalid_training_file"
    trained_tokens: int = 1234


@dataclass
class FakeJob:
    id: str
    model: str
    training_file: str
    suffix: str | None
    plan: JobPlan
    created_at: int
    status: str = "validating_files"
    step: int = 0
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        failed = self.status == "failed"
        return {
            "object": "fine_tuning.job",
            "id": self.id,
            "model": self.model,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": "org-fake",
            "result_files": [],
            "status": self.status,
            "validation_file": None,
            "training_file": self.training_file,
            "hyperparameters": {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"},
            "trained_tokens": self.plan.trained_tokens if self.status == "succeeded" else None,
            "error": (
                {"code": self.plan.error_code, "message": self.plan.error, "param": "training_file"}
                if failed
                else {}
            ),
            "seed": 42,
            "estimated_finish": None,
            "integrations": [],
        }


class FakeFineTuning(FakeOpenAI):
    """FakeOpenAI with files and fine-tuning jobs (see the module doc)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.files: dict[str, dict[str, Any]] = {}
        self.file_contents: dict[str, bytes] = {}
        self.jobs: dict[str, FakeJob] = {}
        self._plans: deque[JobPlan] = deque()
        self._read_failures: deque[int] = deque()
        self._ids = itertools.count(1)

    # -- scripting ---------------------------------------------------------------------------------
    def plan(self, *plans: JobPlan) -> None:
        self._plans.extend(plans)

    def fail_reads(self, status: int = 503, times: int = 1) -> None:
        self._read_failures.extend([status] * times)

    @property
    def job_reads(self) -> int:
        return sum(
            1 for r in self.requests if r.method == "GET" and r.path.startswith("/v1/fine_tuning/jobs/")
        )

    # -- protocol ----------------------------------------------------------------------------------
    def _next_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self._ids):06d}"

    def _json(self, ex: Exchange, status: int, body: Any) -> None:
        ex.send(status, orjson.dumps(body), {"content-type": "application/json"})

    def _fail(self, ex: Exchange, status: int, message: str, param: str | None = None) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._json(ex, status, {"error": {"message": message, "type": kind, "param": param, "code": None}})

    async def handle(self, ex: Exchange) -> None:
        req = ex.request
        path = req.path
        if not (path.startswith("/v1/files") or path.startswith("/v1/fine_tuning/")):
            await super().handle(ex)
            return
        denied = self.auth_error(req)
        if denied is not None:
            ex.send(401, denied)
            return
        parts = [p for p in path.split("/") if p][1:]  # drop "v1"
        if parts == ["files"] and req.method == "POST":
            self._upload(ex)
        elif len(parts) == 2 and parts[0] == "files" and req.method == "GET":
            f = self.files.get(parts[1])
            if f:
                self._json(ex, 200, f)
            else:
                self._fail(ex, 404, f"No such File object: {parts[1]}", "id")
        elif parts == ["fine_tuning", "jobs"] and req.method == "POST":
            self._create(ex)
        elif parts[:2] == ["fine_tuning", "jobs"] and len(parts) >= 3:
            job = self.jobs.get(parts[2])
            if job is None:
                self._fail(ex, 404, f"Could not find fine-tune job: {parts[2]}", "fine_tune_id")
            elif len(parts) == 3 and req.method == "GET":
                if self._read_failures:
                    self._fail(ex, self._read_failures.popleft(), "The server had an error while processing")
                    return
                self._advance(job)
                self._json(ex, 200, job.body())
            elif parts[3:] == ["cancel"] and req.method == "POST":
                if job.status in TERMINAL:
                    self._fail(ex, 400, f"Job has already completed: {job.id}")
                    return
                job.status, job.finished_at = "cancelled", int(time.time())
                self._event(job, "Job cancelled")
                self._json(ex, 200, job.body())
            elif parts[3:] == ["events"] and req.method == "GET":
                self._json(ex, 200, {"object": "list", "data": list(reversed(job.events)), "has_more": False})
            else:
                self._fail(ex, 404, f"no route for {req.method} {path}")
        else:
            self._fail(ex, 404, f"no route for {req.method} {path}")

    def _upload(self, ex: Exchange) -> None:
        form = parse_form(ex.request)
        file, purpose = form.get("file"), form.get("purpose")
        if file is None or not file.value:
            self._fail(ex, 400, "Missing required parameter: 'file'.", "file")
            return
        if purpose is None or purpose.value.decode() not in ("fine-tune", "assistants", "batch", "user_data"):
            self._fail(ex, 400, "Invalid value for 'purpose'.", "purpose")
            return
        fid = self._next_id("file")
        self.file_contents[fid] = file.value
        self.files[fid] = {
            "id": fid,
            "object": "file",
            "bytes": len(file.value),
            "created_at": int(time.time()),
            "filename": file.filename or "upload.jsonl",
            "purpose": purpose.value.decode(),
            "status": "processed",
        }
        self._json(ex, 200, self.files[fid])

    def _create(self, ex: Exchange) -> None:
        body = ex.request.json or {}
        model, training = body.get("model"), body.get("training_file")
        if not model or not training:
            self._fail(ex, 400, "Missing required parameter: 'model' or 'training_file'.")
            return
        if training not in self.files:
            self._fail(ex, 400, f"invalid training_file: {training}", "training_file")
            return
        plan = self._plans.popleft() if self._plans else JobPlan()
        job = FakeJob(
            id=self._next_id("ftjob"),
            model=str(model),
            training_file=str(training),
            suffix=body.get("suffix"),
            plan=plan,
            created_at=int(time.time()),
        )
        self._event(job, f"Created fine-tuning job: {job.id}")
        self.jobs[job.id] = job
        self._json(ex, 200, job.body())

    def _advance(self, job: FakeJob) -> None:
        if job.status in TERMINAL:
            return
        job.step += 1
        if job.step < len(STEPS):
            job.status = STEPS[job.step]
            self._event(job, f"Job status: {job.status}")
            return
        job.finished_at = int(time.time())
        if job.plan.outcome == "succeeded":
            job.status = "succeeded"
            job.fine_tuned_model = f"ft:{job.model}:fake-org:{job.suffix or 'custom'}:{job.id[-6:]}"
            self._event(job, "The job has successfully completed")
        else:
            job.status = "failed"
            self._event(job, f"Job failed: {job.plan.error}", level="error")

    def _event(self, job: FakeJob, message: str, level: str = "info") -> None:
        job.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": f"ftevent-{job.id[-6:]}-{len(job.events)}",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "type": "message",
            }
        )
