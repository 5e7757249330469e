"""Embedding backends behind the `Embedder` seam: local MiniLM, an OpenAI-compatible endpoint, hashing."""

from nexus.routing.embedders.cache import CachedEmbedder
from nexus.routing.embedders.hashing import HashingEmbedder
from nexus.routing.embedders.minilm import MiniLMEmbedder
from nexus.routing.embedders.remote import OpenAIEmbedder

__all__ = ["CachedEmbedder", "HashingEmbedder", "MiniLMEmbedder", "OpenAIEmbedder"]
