"""A Nexus app with the pipeline, in front of one scripted FakeOpenAI per model role.

Each catalogue model has its own fake upstream, so a test scripts exactly what the judge, the
aggregator or a worker answers, whatever the order the parallel workers call in.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from nexus.config.settings import Settings
from nexus.embeddings import HashingEmbedder
from nexus.gateway.app import create_app
from nexus.routing.classifier import Classifier
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import write_catalogue

MODELS = ("cheap", "coder", "general", "agg", "judge", "senior")
TEST_KEY = "sk-test-pipeline-key-0123456789"


def write_test_catalogue(path: Path, fakes: dict[str, FakeOpenAI], **pipeline: Any) -> Path:
    return write_catalogue(
        path,
        [{"id": m, "base_url": fakes[m].base_url, "context_window": 4096, "tags": [m]} for m in MODELS],
        roles={
            "classifier": "cheap",
            "self_answer": "cheap",
            "compressor": "cheap",
            "default": "general",
            "aggregator": "agg",
            "judge": "judge",
            "escalation": "senior",
        },
        workers={"code": "coder", "math": "general", "writing": "general"},
        experts={"code": "You are a senior software engineer.", "writing": "You are a skilled writer."},
        pipeline={"subtask_timeout_s": 1.0, "judge_threshold": 7, "qa_retries": 1, **pipeline},
    )


def settings_for(data_dir: Path, catalogue: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        config=catalogue,
        auth="off",
        attempt_timeout_s=5,
        total_timeout_s=10,
        max_retries=0,
        retry_base_delay_s=0.01,
    )


def make_app(settings: Settings, classifier_cache: Path | None = None) -> FastAPI:
    """The real gateway app (every door, the service layer, the pipeline) on a hashing embedder and the
    classifier trained once per session, in front of one scripted fake upstream per model."""
    if classifier_cache is not None and classifier_cache.exists():
        shutil.copytree(classifier_cache, settings.data_dir / "router", dirs_exist_ok=True)
    embedder = HashingEmbedder()
    return create_app(
        settings, embedder=embedder, classifier=Classifier(embedder=embedder, settings=settings)
    )


def parse_sse(text: str) -> list[dict[str, Any]]:
    """SSE text → [{"type", ...event fields}] in order."""
    out = []
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        kind = next((ln[7:] for ln in lines if ln.startswith("event: ")), None)
        data = "".join(ln[6:] for ln in lines if ln.startswith("data: "))
        if data and kind:
            event = json.loads(data)
            assert event["type"] == kind
            out.append(event)
    return out


async def post_events(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    r = await client.post(path, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return parse_sse(r.text)


def types(events: list[dict[str, Any]], *, tokens: bool = False) -> list[str]:
    return [e["type"] for e in events if tokens or e["type"] != "token"]


def final(events: list[dict[str, Any]]) -> dict[str, Any]:
    finals = [e for e in events if e["type"] == "final"]
    assert len(finals) == 1, types(events)
    data: dict[str, Any] = finals[0]["data"]
    return data
