"""The FAQ product line above the service layer: FAQ extraction from documents, smart agents that answer
from their FAQs and gather leads, and side-by-side comparison of two models. See docs/faq.md."""
