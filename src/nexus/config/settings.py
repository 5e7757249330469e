"""Process settings from the environment (prefix NEXUS_) and an optional .env file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
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
