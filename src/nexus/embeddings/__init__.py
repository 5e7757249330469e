"""Embedding backends behind the `Embedder` seam: local MiniLM, an OpenAI-compatible endpoint, hashing."""

from nexus.embeddings.base import Embedder, EmbedderError
from nexus.embeddings.cache import CachedEmbedder
from nexus.embeddings.hashing import HashingEmbedder
from nexus.embeddings.minilm import MiniLMEmbedder
from nexus.embeddings.remote import OpenAIEmbedder

__all__ = [
    "Embedder",
    "EmbedderError",
    "CachedEmbedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
]
