"""Lexical (BM25) indexes behind one small protocol."""

from nexus.rag.lexical.base import LexicalHit, LexicalIndex
from nexus.rag.lexical.tantivy import TantivyIndex, query_text

__all__ = ["LexicalHit", "LexicalIndex", "TantivyIndex", "query_text"]
