"""Nexus: a self-hostable multi-LLM orchestration gateway."""

__version__ = "0.1.0"
