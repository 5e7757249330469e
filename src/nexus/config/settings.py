"""Process settings from the environment (prefix NEXUS_) and an optional .env file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEXUS_", env_file=".env", extra="ignore")

    # Where Nexus keeps its files: database, checkpoints, router artefacts.
    data_dir: Path = Path("./data")
    # The YAML model catalogue; None means the packaged default catalogue.
    config: Path | None = None
    # Force simulated models even when provider keys are present.
    demo: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    ui_port: int = 8501

    database_url: str | None = None
    database_fallback: Literal["sqlite", ""] | None = None
    redis_url: str | None = None

    auth: Literal["on", "off"] = "on"
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    # File of KEY=VALUE lines with provider credentials, read as a fallback to the environment.
    secrets_file: Path | None = None

    # YAML guard configuration (checks, risk → action); None = the built-in defaults.
    guard_config: Path | None = None

    log_level: str = "INFO"
    log_json: bool = True
    log_prompts: bool = False

    max_body_bytes: int = 4 * 1024 * 1024
    max_messages: int = 10_000
    # Upstream call limits: each attempt, and all attempts of one call together.
    attempt_timeout_s: float = 60.0
    total_timeout_s: float = 180.0
    max_retries: int = 2
    retry_base_delay_s: float = 0.25
    retry_max_delay_s: float = 8.0

    # Per-minute limits: per key (a key's own limits win) and per tenant (a tenant row's win); 0 = none.
    default_rpm: int = 0
    default_tpm: int = 0
    tenant_rpm: int = 0
    tenant_tpm: int = 0
    retention_days: int = 30
    # Work orders and Prometheus metrics; off only to measure their cost (bench/bench_passthrough.py).
    accounting: bool = True
    metrics: bool = True
    accounting_flush_s: float = Field(default=1.0, gt=0, le=1.0)
    accounting_queue_max: int = 10_000

    # --- documents (RAG): nexus.rag ---
    # Vector store: embedded (SQLite + exact search, no server) | pgvector | qdrant (extra nexus[qdrant]).
    rag_vector_store: Literal["embedded", "pgvector", "qdrant"] = "embedded"
    # pgvector's database (libpq or SQLAlchemy URL); None = NEXUS_DATABASE_URL when that is PostgreSQL.
    rag_pgvector_url: str | None = None
    rag_pgvector_schema: str = "public"
    # Qdrant: a server URL, else local mode in <data_dir>/rag/qdrant.
    rag_qdrant_url: str | None = None
    rag_max_file_bytes: int = 50 * 1024 * 1024
    rag_max_pages: int = 2000
    rag_chunk_tokens: int = 200
    rag_chunk_overlap: int = 30
    # A trained reranker (`nexus rag train-reranker`); None = the fused order.
    rag_reranker: Path | None = None
    # Grounded nexus-auto: retrieval slower than this is dropped and the answer says so.
    rag_retrieval_budget_s: float = 2.0

    # Reliability and the HTTP edge (issue 11; nexus.providers.deadline, nexus.gateway.server).
    # The most a request may ask for with `timeout` in its body (total_timeout_s is the default).
    request_timeout_max_s: float = Field(default=600.0, gt=0)
    # SIGTERM: stop accepting, let streams run this long, then end the rest with an error event;
    # the process is gone within this + 2 s (keep it under the orchestrator's grace period).
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    # Request line + headers; larger gets 431. Headers must arrive within header_timeout_s (slowloris).
    http_max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    http_header_timeout_s: float = Field(default=10.0, gt=0)
    http_keepalive_timeout_s: float = Field(default=5.0, gt=0)
    # Open connections (beyond: 503 and close) and in-flight requests (beyond: 503); 0 = no limit.
    http_max_connections: int = Field(default=4096, ge=0)
    http_max_concurrency: int = Field(default=1024, ge=0)

    # -- agents and the execution engine (nexus.agents, nexus.execution) --
    # External calls (agent tools, OpenAPI tools, schedules): per-attempt timeout and retries.
    execution_timeout_s: float = Field(default=10.0, gt=0)
    execution_max_retries: int = Field(default=2, ge=0, le=10)
    execution_max_response_bytes: int = Field(default=1_000_000, gt=0)
    execution_idempotency_window_s: float = Field(default=24 * 3600.0, gt=0)
    # Destinations the SSRF guard lets through, e.g. ["10.0.0.5:8080", "192.168.0.0/16"] (JSON in the env).
    execution_trusted: list[str] = Field(default_factory=list)
    # Tenant → allowed host patterns ("api.example.com", "*.example.com"; key "*" for other tenants);
    # unset = any public host.
    execution_allowed_hosts: dict[str, list[str]] | None = None
    # Register the sandboxed Python tool (run_python) for agents that name it.
    agents_code_tool: bool = True

    # --- background jobs, workers, scheduler (nexus.jobs; docs/jobs.md) ---
    # Jobs a worker process (or the embedded gateway) runs at once.
    jobs_concurrency: int = Field(default=8, ge=1, le=1000)
    # Attempts before a failing job goes to the dead-letter store.
    jobs_max_attempts: int = Field(default=5, ge=1, le=100)
    # Retry backoff: base * 2^(attempt-1), capped, with jitter.
    jobs_retry_base_s: float = Field(default=2.0, ge=0)
    jobs_retry_max_s: float = Field(default=600.0, ge=0)
    # Per-process heartbeat lease; a process silent this long is dead and its work is recovered.
    jobs_lease_s: float = Field(default=30.0, gt=0)
    # How often a process dispatches due jobs (delays, retries) and recovers dead processes' jobs.
    jobs_poll_s: float = Field(default=1.0, gt=0)
    # A queued job whose message has waited this long is sent again (the message may have been lost).
    jobs_redispatch_s: float = Field(default=300.0, gt=0)
    # Redis Streams: a delivered but unacknowledged message idle this long is reclaimed (XAUTOCLAIM).
    jobs_reclaim_idle_s: float = Field(default=60.0, gt=0)
    # Key prefix of the job streams in Redis (one deployment per prefix).
    jobs_stream_prefix: str = "nexus"
    # On SIGTERM a worker waits this long for running jobs before handing them back to the queue.
    jobs_shutdown_grace_s: float = Field(default=30.0, ge=0)
    # Worker/scheduler health server (/health, /ready, /metrics); 0 = none.
    jobs_health_port: int = Field(default=0, ge=0, le=65535)
    # The scheduler's leadership lease: a standby takes over this long after the leader dies.
    scheduler_lease_s: float = Field(default=15.0, gt=0)
    # HMAC-SHA256 key of signed callbacks (X-Nexus-Signature); callbacks are refused without it.
    callback_secret: str | None = None
    callback_timeout_s: float = Field(default=10.0, gt=0)
    callback_max_attempts: int = Field(default=8, ge=1, le=100)

    # -- voice: transcription, speech and the /ws/voice door (docs/voice.md) --------------------------
    # The chat model a voice utterance's turn goes to: a catalogue id (the explicit fast path, cancelled
    # upstream at once on barge-in) or "nexus-auto"; empty means the catalogue's default role.
    voice_model: str = ""
    # The transcriber of /ws/voice: "nexus-asr" (offline, in-process) or a catalogue entry with audio_in.
    voice_transcriber: str = "nexus-asr"
    # A catalogue entry with audio_out to speak answers on /ws/voice; empty means text only.
    voice_speech_model: str = ""
    voice_speech_voice: str = "alloy"
    voice_vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    # Voiced audio needed to start an utterance (and to barge in), and the silence that ends one.
    voice_start_ms: int = Field(default=60, ge=20)
    voice_end_silence_ms: int = Field(default=600, ge=100)
    voice_max_utterance_s: float = Field(default=30.0, gt=0)
    # How often a remote transcriber re-reads the utterance so far for a partial transcript (each read
    # is a metered call); 0 = partials only from the offline transcriber.
    voice_partial_interval_ms: int = Field(default=0, ge=0)

    # --- Telegram interface and heartbeat (ops; docs/telegram.md, docs/heartbeat.md) ---
    # The bot token is TELEGRAM_BOT_TOKEN (environment or secrets file), appended to this base URL.
    telegram_base_url: str = "https://api.telegram.org/bot"
    # Allow-list: "user_id=tenant:role" pairs separated by commas; anyone else is refused (and audited).
    telegram_users: str = ""
    # Requests per minute per Telegram user (their own rate limit; the tenant's applies too); 0 = none.
    telegram_user_rpm: int = 20
    # Webhook mode: the gateway serves this path (under /telegram/) and checks Telegram's secret token.
    telegram_webhook_path: str = "/telegram/webhook"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    # Voice notes: the transcription model (a catalogue model with `audio_in`; `nexus-asr` reads WAV only);
    # default: the first remote `audio_in` model, else voice notes are answered "not configured".
    telegram_transcriber: str | None = None
    # The heartbeat: how often, what it probes, and the thresholds of its warning/critical states.
    heartbeat_interval_s: float = Field(default=60.0, gt=0)
    heartbeat_gateway_url: str | None = None  # None: http://{host}:{port}
    heartbeat_timeout_s: float = Field(default=5.0, gt=0)
    heartbeat_latency_warn_ms: float = 2000.0
    heartbeat_disk_warn_pct: float = 85.0
    heartbeat_disk_crit_pct: float = 95.0
    heartbeat_memory_warn_pct: float = 90.0
    heartbeat_memory_crit_pct: float = 97.0
    heartbeat_gpu_memory_warn_pct: float = 90.0
    heartbeat_gpu_memory_crit_pct: float = 98.0
    heartbeat_gpu_temp_warn_c: float = 85.0
    heartbeat_gpu_temp_crit_c: float = 95.0
    heartbeat_budget_warn_pct: float = 80.0
    heartbeat_budget_crit_pct: float = 95.0
    heartbeat_stuck_run_s: float = 900.0
    heartbeat_queue_lag_warn_s: float = 60.0
    heartbeat_queue_lag_crit_s: float = 600.0
    # Alerts: one per incident, then at most one reminder per cooldown, then a recovery message.
    heartbeat_alert_cooldown_s: float = 900.0
    heartbeat_alert_webhook: str | None = None
    heartbeat_alert_chats: str = ""  # Telegram chat ids for alerts, separated by commas
    heartbeat_history_days: int = 7
    # Bounded recovery: attempts per action per incident, and the age of temp files it may prune.
    heartbeat_recovery_attempts: int = 3
    heartbeat_temp_max_age_h: float = 24.0

    @field_validator("telegram_webhook_path")
    @classmethod
    def _telegram_webhook_path(cls, v: str) -> str:
        if not v.startswith("/telegram/") or v == "/telegram/":
            raise ValueError("must be a path under /telegram/, e.g. /telegram/webhook")
        return v

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'nexus.db').resolve()}"

    def secret(self, name: str | None) -> str | None:
        """A provider credential from the environment, else from the secrets file."""
        if not name:
            return None
        value = os.environ.get(name)
        if value:
            return value
        return _read_secrets_file(self.secrets_file).get(name) if self.secrets_file else None


def _read_secrets_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip().strip('"').strip("'")
    return out


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
