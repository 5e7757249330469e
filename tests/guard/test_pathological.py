"""Inputs built to make regexes backtrack: each must simply finish (timing lives in bench/).

Every case is a 20,000-character user message through the whole input guard (all layers), then
through the output guard's stream. pytest-timeout (120 s) turns a catastrophic case into a failure
instead of a hang; a linear guard takes milliseconds on each.
"""

from __future__ import annotations

import base64
import random

import pytest

from nexus.guard import ChatGuard

N = 20_000
_RNG = random.Random(3)
CASES = {
    "ignore + article run": "ignore " + "the " * 5000 + "xyz abc def instructions",
    "repeated override": "ignore all previous " * 1000,
    "letters": "a" * N,
    "at signs": "a@" * (N // 2),
    "email local part, no domain": "a." * (N // 2) + "@",
    "digits and spaces": "1 " * (N // 2),
    "digits and dashes": "1-" * (N // 2),
    "card-like groups": "4111 " * (N // 5),
    "pem headers, no end": "-----BEGIN PRIVATE KEY-----\n" * 700,
    "assignment keywords": "password=" * 2000 + "secret: " * 500,
    "newlines then a role": "\n" * N + "system:",
    "spaces then a role": " " * N + "system:",
    "tabs": "\t" * N,
    "base64 blob": base64.b64encode(_RNG.randbytes(N * 3 // 4)).decode(),
    "hex dump": "de ad be ef " * (N // 12),
    "uppercase run": "A" * N,
    "key prefix then run": "sk-" + "a" * N,
    "jwt-ish pieces": ("eyJ" + "a" * 10 + ".") * 1500,
    "spaced letters": "x y z " * (N // 6),
    "leetspeak": "h3ll0 w0rld " * (N // 12),
    "markers": "[SECRET:x]" * (N // 10),
    "url credentials": "://a:" * (N // 5),
    "bearer headers": "Authorization: Bearer " * 900,
    "delimiters": "<system>" * (N // 8),
    "aws context and base64 run": "aws secret " + "A1b/" * (N // 4),
    "zero-width": "\u200b" * N,
    "random unicode": "".join(chr(_RNG.randrange(0x80, 0x2FFF)) for _ in range(N)),
    "json keys": '{"password": "' * 1500,
    "persona names": "DAN " * (N // 4),
}


@pytest.mark.parametrize("text", list(CASES.values()), ids=list(CASES))
def test_pathological_input_completes(text: str) -> None:
    policy = ChatGuard().default
    out = policy.check_messages([{"role": "user", "content": text}])
    assert len(out.messages) == 1
    stream = policy.stream()
    released = "".join(stream.feed(text[i : i + 4096]) for i in range(0, len(text), 4096)) + stream.finish()
    assert released or not text.strip()
