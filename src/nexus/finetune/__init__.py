"""Fine-tuning: a chat-format dataset from FAQ pairs, uploaded through the provider's Files API, a job
on its OpenAI-compatible fine-tuning API polled durably on nexus.jobs, and on success the fine-tuned
model registered in the tenant's catalogue. See docs/faq.md."""

from nexus.finetune.client import FineTuneClient, ProviderRejected, ProviderUnavailable
from nexus.finetune.dataset import DatasetError, build_dataset
from nexus.finetune.service import FineTuneService, FineTuneSpec

__all__ = [
    "DatasetError",
    "FineTuneClient",
    "FineTuneService",
    "FineTuneSpec",
    "ProviderRejected",
    "ProviderUnavailable",
    "build_dataset",
]
