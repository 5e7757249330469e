"""Cheap lexical and shape features that the sentence vector misses: code, math, logs, length, script.

A sentence vector of a 20,000-character code dump sees only its head and tail tokens; these features see
a larger window of characters (head and tail again, so a 1 MB paste costs what a 2.3 kB one does: regular
expressions over whole pastes cost tens of milliseconds). Each one was kept because leave-one-source-out accuracy improved with it
(`nexus eval routing`); see docs/routing.md.
"""

from __future__ import annotations

import math
import re

import numpy as np

from nexus.routing.keywords import DOMAINS, keyword_scores

# Characters of a long prompt that the features look at: the head (the dump) and the tail (the ask).
HEAD_CHARS = 1500
TAIL_CHARS = 800

_CODE_LINE = re.compile(
    r"^\s*(def |class |import |from \S+ import|#include|package |func |fn |let |const |var |public |private |"
    r"return\b|if\s*\(|for\s*\(|while\s*\(|\}|\{|@\w+|SELECT |INSERT |UPDATE |CREATE |<\w+[ >/])"
    r"|[;{}]\s*$|\)\s*:\s*$|=>|->",
    re.MULTILINE,
)
_LOG_LINE = re.compile(
    r"^\s*(\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d|\[?\d\d:\d\d:\d\d|(ERROR|WARN(ING)?|INFO|DEBUG|FATAL|TRACE)\b|"
    r"at [\w.$]+\([\w.]+:\d+\)|File \"[^\"]+\", line \d+|\w+(Error|Exception):)",
    re.MULTILINE,
)
_LATEX = re.compile(r"\$[^$\n]{1,200}\$|\\(frac|int|sum|sqrt|lim|mathbb|cdot|alpha|beta|theta|pi|le|ge)\b")
_EQUATION = re.compile(r"\d\s*[-+*/^×÷=<>]\s*\(?\d|\b[a-z]\s*[\^=]\s*\d|\b\d+\s*%|\b[xyz]\b\s*[-+*/=]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_QUESTION_END = re.compile(r"[?？]\s*$")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_DROP_SYMBOLS = str.maketrans("", "", "{}[]();=<>_/\\#*`|")
_DROP_DIGITS = str.maketrans("", "", "0123456789")

N_FEATURES = len(DOMAINS) + 13


def window(text: str) -> str:
    """The part of a long text that features are computed on: head and tail."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def lexical_features(text: str) -> np.ndarray:
    """Keyword scores per domain, then code, log, math, script and length cues, each roughly in [0, 1]."""
    full_len = len(text)
    text = window(text)
    n = max(len(text), 1)
    scores = keyword_scores(text)
    lines = text.split("\n")
    n_lines = max(len(lines), 1)
    # Counting by deletion (str.translate runs in C): 20x faster than a Python loop over characters.
    symbols = n - len(text.translate(_DROP_SYMBOLS))
    digits = n - len(text.translate(_DROP_DIGITS))
    non_ascii = len(_NON_ASCII.findall(text))
    code_lines = len(_CODE_LINE.findall(text))
    log_lines = len(_LOG_LINE.findall(text))
    tail = text[-400:]
    shape = [
        symbols / n,
        digits / n,
        math.log1p(len(text.split())) / 6.0,
        math.log1p(text.count("\n")) / 4.0,
        1.0 if "?" in text else 0.0,
        min(text.count("```"), 4) / 4.0,
        min(code_lines / n_lines, 1.0),
        min(log_lines / n_lines, 1.0),
        min(len(_LATEX.findall(text)), 10) / 10.0,
        min(len(_EQUATION.findall(text)), 10) / 10.0,
        min(len(_CJK.findall(text)) / n * 3.0, 1.0),
        non_ascii / n,
        # Long pastes with a short question at the end: the question's shape, and the paste's size.
        (1.0 if _QUESTION_END.search(tail) else 0.0) * min(math.log1p(full_len) / 10.0, 1.0),
    ]
    return np.asarray([scores[d] / 3.0 for d in DOMAINS] + shape, dtype=np.float32)


def lexical_matrix(texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, N_FEATURES), dtype=np.float32)
    return np.stack([lexical_features(t) for t in texts])
