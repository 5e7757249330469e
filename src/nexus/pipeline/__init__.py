"""nexus.pipeline: the LangGraph orchestration graph, its events and its checkpointer."""

from nexus.pipeline.checkpoint import open_checkpointer
from nexus.pipeline.events import Event
from nexus.pipeline.runner import NotPaused, Paused, Pipeline, build_pipeline, open_pipeline

__all__ = ["Event", "NotPaused", "Paused", "Pipeline", "build_pipeline", "open_checkpointer", "open_pipeline"]
