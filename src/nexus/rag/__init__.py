"""Documents and retrieval-augmented answers: parsing, chunking, BM25 + vectors, fusion, reranking,
compression, verified citations, and `RagService`, the use-case API the doors call."""

from nexus.rag.errors import IngestError, RagError
from nexus.rag.service import RagService
from nexus.rag.types import CollectionInfo, FileInfo, Grounding, SearchHit, SearchResult

__all__ = [
    "CollectionInfo",
    "FileInfo",
    "Grounding",
    "IngestError",
    "RagError",
    "RagService",
    "SearchHit",
    "SearchResult",
]
