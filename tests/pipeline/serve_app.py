"""`uvicorn tests.pipeline.serve_app:app --factory`: the pipeline app in its own process (HITL test).

Reads NEXUS_DATA_DIR and NEXUS_CONFIG like `nexus serve`; NEXUS_TEST_CLASSIFIER_CACHE points at a
trained classifier to copy in, so start-up does not retrain.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from tests.pipeline.harness import make_app, settings_for


def app() -> FastAPI:
    cache = os.environ.get("NEXUS_TEST_CLASSIFIER_CACHE")
    settings = settings_for(Path(os.environ["NEXUS_DATA_DIR"]), Path(os.environ["NEXUS_CONFIG"]))
    return make_app(settings, Path(cache) if cache else None)
