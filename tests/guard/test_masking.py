"""Masking: markers never nest, never match a rule, overlapping findings merge, mask∘mask = mask."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus.guard import MARKER, Finding, GuardConfig, GuardContext, GuardPipeline, Risk, mask
from nexus.guard.checks.pii import PiiCheck
from nexus.guard.checks.secrets import SecretsCheck

from .secret_shapes import shapes

PIPE = GuardPipeline()
CTX = GuardContext()
NESTED = re.compile(r"\[[A-Z]+(?::[a-z_]+)?\[|\[SECRET:\[")


def masked(text: str) -> str:
    return PIPE.enforce(text)[0]


def test_no_nested_markers_from_a_password_assignment() -> None:
    """The issue's case: text that already holds a marker (an earlier turn's masked answer sent back
    as history) was masked again into `[SECRET:[SECRET:password_assignment]`."""
    history = "You wrote [SECRET:password_assignment] earlier; now my token=abc123def456 fails."
    once = masked(history)
    assert (
        once
        == "You wrote [SECRET:password_assignment] earlier; now my token=[SECRET:password_assignment] fails."
    )
    assert masked("[SECRET:password_assignment]") == "[SECRET:password_assignment]"
    assert masked(once) == once
    text = 'config: password = "hunter2hunter2" and secret: abc123def456'
    assert (
        masked(text)
        == 'config: password = "[SECRET:password_assignment]" and secret: [SECRET:password_assignment]'
    )
    assert not NESTED.search(masked(masked(text)))


def test_markers_never_match_a_rule() -> None:
    markers = "[SECRET:password_assignment] [SECRET:openai_key] [EMAIL] [PHONE] [CARD] secret: [SECRET:jwt]"
    assert SecretsCheck().scan(markers, CTX) == []
    assert PiiCheck().scan(markers, CTX) == []
    assert PIPE.check(markers).findings == []


def test_a_marker_next_to_a_real_secret_hides_nothing() -> None:
    key = "sk-proj-" + "Ab3" * 10
    out = masked(f"[SECRET:openai_key]{key} [EMAIL]jo@example.org")
    assert key not in out and "jo@example.org" not in out


def test_overlapping_findings_merge_into_one_marker() -> None:
    text = "prefix 0123456789 suffix"
    findings = [
        Finding(
            check="pii", category="pii", kind="phone", risk=Risk.medium, start=7, end=14, label="[PHONE]"
        ),
        Finding(
            check="secrets", category="secret", kind="x", risk=Risk.high, start=10, end=17, label="[SECRET:x]"
        ),
    ]
    assert mask(text, findings) == "prefix [SECRET:x] suffix"
    # A secret assignment whose value is also an e-mail address: one marker, the secret's.
    assert masked("password=jo.doe@example.org!") == "password=[SECRET:password_assignment]"


def test_labels_that_are_not_markers_are_replaced() -> None:
    finding = Finding(
        check="c", category="policy", kind="k", risk=Risk.high, start=0, end=3, label="password=x"
    )
    out = mask("abc def", [finding])
    assert out == "[REDACTED] def" and MARKER.fullmatch("[REDACTED]")


# Text made of fragments that detectors react to, glued in random order: the worst case for
# idempotence is a marker landing next to something that then looks like a new finding.
_FRAGMENTS = [value for _, value, _ in shapes()] + [
    "password=",
    "secret: ",
    "token=",
    "api_key: '",
    "jo@example.org",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32",
    "123-45-6789",
    "[SECRET:openai_key]",
    "[EMAIL]",
    "[",
    "]",
    ":",
    "=",
    '"',
    " ",
    "\n",
    "AKIA",
    "sk-",
    "abc123",
    "x",
]
_TEXTS = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=12), max_size=14).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXTS)
def test_masking_is_idempotent(text: str) -> None:
    once = masked(text)
    assert masked(once) == once
    assert not NESTED.search(once) or NESTED.search(text)


@settings(max_examples=200, deadline=None)
@given(_TEXTS)
def test_masked_text_holds_no_detectable_secret(text: str) -> None:
    once = masked(text)
    assert SecretsCheck().scan(once, CTX) == []
    assert PiiCheck().scan(once, CTX) == []


def test_flag_only_configuration_masks_nothing() -> None:
    cfg = GuardConfig(actions={"secret": {"high": "flag"}, "pii": {"medium": "flag", "high": "flag"}})
    text, verdict = GuardPipeline(cfg).enforce("key AKIAIOSFODNN7EXAMPLE mail jo@example.org")
    assert text == "key AKIAIOSFODNN7EXAMPLE mail jo@example.org"
    assert verdict.flagged and {d.kind for d in verdict.decisions} == {"aws_access_key", "email"}
