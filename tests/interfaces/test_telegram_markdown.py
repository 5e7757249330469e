"""MarkdownV2 rendering and splitting, checked by an independent parser of Telegram's rules."""

from __future__ import annotations

import random

import pytest

from nexus.interfaces.telegram.markdown import LIMIT, to_markdown_v2, units
from nexus.testing.markdown_v2 import MarkdownV2Error, parse

SPECIALS = "_*[]()~`>#+-=|{}.!\\"


def long_answer(size: int = 10_000, seed: int = 7) -> str:
    """Prose with every special character, inline code, bold, links, and code blocks (one longer than
    a message), about `size` characters."""
    rng = random.Random(seed)
    words = [
        "alpha",
        "beta_gamma",
        "x*y",
        "1.5",
        "(note)",
        "[tag]",
        "a>b",
        "#hash",
        "c++",
        "~tilde~",
        "{braces}",
        "pipe|",
        "wow!",
        "=eq",
        "back\\slash",
        "`tick`",
        "naïve",
        "emoji🚀",
        "snake_case",
    ]
    out: list[str] = []
    n = 0
    while sum(len(p) for p in out) < size:
        n += 1
        if n % 7 == 0:
            lines = [
                f"def f{i}(x):  # {rng.choice(SPECIALS)} `q` \\ {'*' * 3}" for i in range(rng.randint(3, 30))
            ]
            out.append("```python\n" + "\n".join(lines) + "\n```")
        elif n == 11:
            out.append("```\n" + "\n".join(f"line {i} `x` \\y _z_ *w*" for i in range(300)) + "\n```")
        else:
            sentence = " ".join(rng.choice(words) for _ in range(rng.randint(20, 90)))
            out.append(
                f"## Part {n}\n**Bold {n}.** {sentence} see [docs](https://example.com/p?q={n}) and `code_{n}`."
            )
    return "\n\n".join(out)


def test_a_10000_character_answer_arrives_as_valid_parts_within_the_limit() -> None:
    text = long_answer()
    assert len(text) >= 10_000 and "```" in text
    parts = to_markdown_v2(text)
    assert len(parts) >= 3
    seen = []
    for part in parts:
        assert units(part) <= LIMIT
        plain, entities = parse(part)  # raises on anything Telegram would refuse
        seen.append(plain)
        assert all(e["offset"] + e["length"] <= units(plain) for e in entities)
    visible = "\n".join(seen)
    # Nothing is lost: every code line and every sentence's words reach the user.
    for line in text.splitlines():
        if line.startswith("def f") or line.startswith("line "):
            assert line in visible, line
    assert "emoji🚀" in visible and "back\\slash" in visible


def test_a_code_block_longer_than_a_message_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"print({i!r} * 3)  # `{i}` \\" for i in range(600))
    parts = to_markdown_v2(f"Intro.\n\n```python\n{code}\n```\n\nOutro.")
    pres = []
    for part in parts:
        _, entities = parse(part)
        pres += [e for e in entities if e["type"] == "pre"]
    assert len(pres) >= 2 and all(e.get("language") == "python" for e in pres)


def test_a_single_line_longer_than_a_message_is_split_between_characters_not_inside_escapes() -> None:
    line = "." * 5000 + "_" * 3000
    parts = to_markdown_v2(line)
    assert len(parts) >= 4
    assert "".join(parse(p)[0].replace("\n", "") for p in parts) == line


@pytest.mark.parametrize(
    "bad",
    [
        "1.5",  # '.' unescaped
        "*bold",  # never closed
        "`code",
        "a\\",  # a lone backslash at the end
        "*bold `code` bold*",  # code inside bold
        "[x](http://a.b",  # the URL never closed
        "_a *b_ c*",  # crossing entities
        "a > b",  # '>' only opens a quote at a line start
    ],
)
def test_the_validator_refuses_what_telegram_refuses(bad: str) -> None:
    with pytest.raises(MarkdownV2Error):
        parse(bad)


def test_the_validator_reads_entities_and_escapes() -> None:
    plain, ents = parse("*b \\* _i_* `c\\`d` [l](https://x.y/a\\)b) __u__ ||s|| ~t~\n>quote")
    assert plain == "b * i c`d l u s t\nquote"
    kinds = {e["type"] for e in ents}
    assert kinds == {
        "bold",
        "italic",
        "code",
        "text_link",
        "underline",
        "spoiler",
        "strikethrough",
        "blockquote",
    }
    assert next(e for e in ents if e["type"] == "text_link")["url"] == "https://x.y/a)b"
