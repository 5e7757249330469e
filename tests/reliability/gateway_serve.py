"""The real gateway app (tests/pipeline/harness.make_app: every door, the service layer, the pipeline)
served by nexus.gateway.server.serve in its own process, as `nexus serve` serves it, so a test can send
it SIGTERM: `python gateway_serve.py DATA_DIR CATALOGUE PORT GRACE_S CLASSIFIER_CACHE`."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.pipeline.harness import make_app, settings_for

from nexus.gateway.server import serve

if __name__ == "__main__":
    data_dir, catalogue, port, grace, cache = sys.argv[1:6]
    settings = settings_for(Path(data_dir), Path(catalogue)).model_copy(
        update={"shutdown_grace_s": float(grace), "total_timeout_s": 120.0, "attempt_timeout_s": 120.0}
    )
    app = make_app(settings, Path(cache))
    print("serving", flush=True)
    serve(app, settings, signal=app.state.shutdown, host="127.0.0.1", port=int(port), log_level="warning")
