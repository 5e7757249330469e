"""The QA hook: an answer in which QA finds a secret is delivered masked, never raw."""

from __future__ import annotations

from nexus.guard.qa import QASpec, mask_leaks, run_checks

from .secret_shapes import shapes

SPEC = QASpec(security={"check_placeholders": False, "check_secrets": True, "check_pii": True})


def test_every_leak_qa_reports_is_masked_by_the_hook() -> None:
    answer = "Here is the config you asked for:\n" + "\n".join(text for _, _, text in shapes())
    answer += "\nQuestions? mail jo@example.org"
    report = run_checks(answer, SPEC)
    assert not report.passed  # QA finds the leaks ...
    leaks = [m for c in report.checks for m in c.messages if "leak" in m]
    assert len(leaks) >= len(shapes())
    delivered = mask_leaks(answer)  # ... and what is delivered after the last retry is masked
    for _, value, _ in shapes():
        assert value not in delivered.text
    assert "jo@example.org" not in delivered.text
    assert run_checks(delivered.text, SPEC).passed  # QA on the delivered text: nothing left, no markers read
    assert delivered.changed and {d.category for d in delivered.decisions} == {"secret", "pii"}
    assert mask_leaks(delivered.text).text == delivered.text


def test_masks_even_when_the_tenant_only_flags_secrets() -> None:
    # The hook does not consult tenant actions: QA found a leak, so it is masked regardless.
    answer = "token: ghp_" + "aB3" * 12
    assert mask_leaks(answer).text == "token: [SECRET:github_token]"


def test_clean_answer_is_returned_as_is() -> None:
    answer = "Paris is the capital of France."
    result = mask_leaks(answer)
    assert result.text is answer and not result.changed
