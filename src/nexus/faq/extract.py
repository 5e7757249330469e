"""FAQ extraction: a document → question–answer pairs, each with its provenance.

Explicit FAQ content is taken verbatim: `Q:`/`A:` blocks, headings that are questions followed by their
text, a paragraph whose first line is a question, a one-line question followed by its answer (HTML
`<dt>`/`<dd>` and `<details><summary>` come out of the parser that way). The rest goes to a model, chunk by chunk, asked for
JSON; the pairs are deduplicated on the normalised question. Parsing reuses nexus.rag.parsing (type
found from the content, limits enforced, PDF through pypdf)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from nexus.rag.parsing import Block, ParsedDocument

CHUNK_CHARS = 3000
Q_ONLY = re.compile(r"^\s*(?:Q|Question)\s*[:.)]\s*(?P<q>.+?)\s*$", re.S | re.I)
A_ONLY = re.compile(r"^\s*(?:A|Answer)\s*[:.)]\s*(?P<a>.+?)\s*$", re.S | re.I)
PROMPT = (
    "Extract the question-answer pairs a customer would ask about from the text below. Answer with JSON "
    'only: {"pairs": [{"question": "...", "answer": "..."}]}. Use only facts stated in the text; an empty '
    "list when there are none.\n\nTEXT:\n"
)


@dataclass(frozen=True, slots=True)
class Pair:
    question: str
    answer: str
    source: str


# "**Q:**", "__A.__": the label's emphasis dropped so the patterns see "Q:".
LABEL = re.compile(r"[*_]{1,3}\s*(Q|A|Question|Answer)\s*([:.)])\s*[*_]{1,3}", re.I)
QA_ALL = re.compile(
    r"(?:^|\n)\s*(?:Q|Question)\s*[:.)]\s*(?P<q>.+?)\s*\n\s*(?:A|Answer)\s*[:.)]\s*(?P<a>.+?)\s*"
    r"(?=\n\s*(?:Q|Question)\s*[:.)]|\Z)",
    re.S | re.I,
)


def _strip(text: str) -> str:
    return re.sub(r"^[#*_\s]+|[*_\s]+$", "", text)


def _where(filename: str, block: Block, heading: str | None) -> str:
    if block.page is not None:
        return f"{filename} p.{block.page}"
    return f"{filename} § {heading}" if heading else filename


def _is_question(b: Block) -> bool:
    text = _strip(b.text.strip())
    return b.kind == "paragraph" and "\n" not in text and text.endswith("?") and len(text) <= 300


def _is_answer(b: Block) -> bool:
    return b.kind in ("paragraph", "list", "table") and not _strip(b.text.strip()).endswith("?")


def explicit_pairs(doc: ParsedDocument, filename: str) -> tuple[list[Pair], list[Block]]:
    """The pairs written as FAQs, verbatim, and the blocks that are not part of any (for the model)."""
    pairs: list[Pair] = []
    rest: list[Block] = []
    blocks = list(doc.blocks)
    heading: str | None = None
    i = 0
    while i < len(blocks):
        b = blocks[i]
        text = LABEL.sub(r"\1\2 ", b.text.strip())
        if found := list(QA_ALL.finditer(text)):
            pairs += [Pair(_strip(m["q"]), m["a"].strip(), _where(filename, b, heading)) for m in found]
            if text[: found[0].start()].strip():  # prose before the first question
                rest.append(Block(text[: found[0].start()].strip(), b.kind, b.level, b.page))
        elif (
            (m := Q_ONLY.match(text))
            and i + 1 < len(blocks)
            and (n := A_ONLY.match(LABEL.sub(r"\1\2 ", blocks[i + 1].text)))
        ):
            pairs.append(Pair(_strip(m["q"]), n["a"].strip(), _where(filename, b, heading)))
            i += 1
        elif b.kind == "heading" and text.endswith("?"):
            body = []
            while i + 1 < len(blocks) and blocks[i + 1].kind != "heading":
                i += 1
                body.append(blocks[i].text.strip())
            if body:
                pairs.append(Pair(_strip(text), "\n\n".join(body), _where(filename, b, heading)))
        elif b.kind == "paragraph" and "\n" in text and _strip(text.split("\n", 1)[0]).endswith("?"):
            first, answer = text.split("\n", 1)
            pairs.append(Pair(_strip(first), answer.strip(), _where(filename, b, heading)))
        elif _is_question(b) and i + 1 < len(blocks) and _is_answer(blocks[i + 1]):
            # A question on its own followed by its answer: HTML <dt>/<dd>, <details><summary>, bold lines.
            pairs.append(Pair(_strip(text), blocks[i + 1].text.strip(), _where(filename, b, heading)))
            i += 1
        else:
            if b.kind == "heading":
                heading = text
            rest.append(b)
        i += 1
    return pairs, rest


def chunks(blocks: list[Block], size: int = CHUNK_CHARS) -> list[list[Block]]:
    out: list[list[Block]] = []
    cur: list[Block] = []
    n = 0
    for b in blocks:
        if cur and n + len(b.text) > size:
            out.append(cur)
            cur, n = [], 0
        cur.append(b)
        n += len(b.text)
    if cur:
        out.append(cur)
    # Headings alone say nothing: a chunk of headings only is not worth a model call.
    return [c for c in out if any(b.kind != "heading" for b in c)]


def parse_model_pairs(text: str) -> list[tuple[str, str]]:
    """The pairs in a model's JSON answer (fenced or bare); ValueError when it is not that JSON."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the model's answer is not JSON: {exc}") from None
    items = data.get("pairs") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError("the model's JSON has no list of pairs")
    out = []
    for it in items:
        if isinstance(it, dict) and str(it.get("question", "")).strip() and str(it.get("answer", "")).strip():
            out.append((str(it["question"]).strip(), str(it["answer"]).strip()))
    return out


def dedupe(pairs: list[Pair]) -> list[Pair]:
    seen: set[str] = set()
    out = []
    for p in pairs:
        key = " ".join(re.findall(r"\w+", p.question.casefold()))
        if key and key not in seen:
            seen.add(key)
            out.append(p)
    return out
