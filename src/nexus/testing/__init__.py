"""Fake upstreams that speak the real wire protocols over loopback HTTP, for tests and benchmarks.

from nexus.testing import FakeOpenAI, Reply

with FakeOpenAI() as fake:                       # 127.0.0.1, ephemeral port, own thread
    fake.push(Reply.error(429, retry_after=2), Reply(text="hello"))
    ...  # point a catalogue entry's base_url at fake.base_url
    assert fake.requests[-1].json["model"] == "fake-model"
"""

from nexus.testing.callbacks import CallbackReceiver
from nexus.testing.fake_anthropic import FakeAnthropic
from nexus.testing.fake_gemini import FakeGemini
from nexus.testing.fake_openai import FakeOpenAI
from nexus.testing.fake_telegram import FakeTelegram
from nexus.testing.script import Policy, Reply, ToolCall, share
from nexus.testing.server import FakeServer, RecordedRequest

__all__ = [
    "CallbackReceiver",
    "FakeAnthropic",
    "FakeGemini",
    "FakeOpenAI",
    "FakeServer",
    "FakeTelegram",
    "Policy",
    "RecordedRequest",
    "Reply",
    "ToolCall",
    "share",
]
