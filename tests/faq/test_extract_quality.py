"""Explicit FAQ content in four formats (HTML, PDF, DOCX, Markdown — made here), parsed as uploads are
and extracted offline (no model): at least 95 % of the pairs recovered with their exact text, and no
pair that is not in the document."""

from __future__ import annotations

import html

import pytest
from tests.rag.docs import make_docx, make_pdf

from nexus.faq.extract import explicit_pairs
from nexus.rag.parsing import parse

TRUTH = [
    ("Do you ship abroad?", "Yes, we ship to 40 countries; duties are paid on delivery."),
    ("How long does delivery take?", "Three to five working days in the EU, ten elsewhere."),
    ("Can I return an item?", "Yes, within 30 days of delivery, free of charge."),
    ("Which payment methods do you accept?", "Visa, Mastercard, PayPal and SEPA transfer."),
    ("Is there a warranty?", "Two years on parts and labour for every product."),
    ("Can I change my order after paying?", "Within one hour, from the order page."),
    ("Do you offer student discounts?", "Yes: 15 % with a valid student e-mail address."),
    ("Where are your products made?", "In Porto, Portugal, in our own workshop."),
    # (Double quotes: the test PDF's Helvetica reads a straight apostrophe as ’, StandardEncoding's 0x27.)
    ("How do I reset my password?", 'Use "Forgot password" on the sign-in page.'),
    ("Can I talk to a person?", "Our team answers chat and phone from 9:00 to 17:00 CET."),
]
PROSE = ["Welcome to the Shop's help centre.", "We are a family business founded in 1987."]


def _html() -> bytes:
    dl = "".join(f"<dt>{html.escape(q)}</dt><dd>{html.escape(a)}</dd>" for q, a in TRUTH[:6])
    det = "".join(
        f"<details><summary>{html.escape(q)}</summary><p>{html.escape(a)}</p></details>" for q, a in TRUTH[6:]
    )
    intro = "".join(f"<p>{p}</p>" for p in PROSE)
    return f"<html><body><h1>Help</h1>{intro}<h2>FAQ</h2><dl>{dl}</dl>{det}</body></html>".encode()


def _pdf() -> bytes:
    first = PROSE + [line for q, a in TRUTH[:5] for line in (f"Q: {q}", f"A: {a}")]
    second = [line for q, a in TRUTH[5:] for line in (f"Q: {q}", f"A: {a}")]
    return make_pdf([first, second], title="FAQ")


def _docx() -> bytes:
    return make_docx("Help centre", [("About us", PROSE)] + [(q, [a]) for q, a in TRUTH])


def _markdown() -> bytes:
    head = "# Help centre\n\n" + "\n\n".join(PROSE) + "\n\n## Frequently asked questions\n\n"
    body = "\n\n".join(f"### {q}\n\n{a}" for q, a in TRUTH[:5])
    qa = "\n\n".join(f"**Q:** {q}\n**A:** {a}" for q, a in TRUTH[5:])
    return (head + body + "\n\n## More\n\n" + qa + "\n").encode()


@pytest.mark.parametrize(
    ("name", "make"), [("faq.html", _html), ("faq.pdf", _pdf), ("faq.docx", _docx), ("faq.md", _markdown)]
)
def test_explicit_faqs_are_recovered_exactly_with_nothing_invented(name: str, make) -> None:  # type: ignore[no-untyped-def]
    pairs, _ = explicit_pairs(parse(make(), name), name)
    got = {(p.question, p.answer) for p in pairs}
    truth = set(TRUTH)
    recovered = len(got & truth) / len(truth)
    assert recovered >= 0.95, (name, recovered, sorted(truth - got), sorted(got - truth))
    assert not got - truth, (name, sorted(got - truth))  # no invented pairs
