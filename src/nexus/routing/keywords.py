"""Keyword evidence per domain: the fallback classifier when embeddings fail, and lexical features.

Each domain is a weighted list of regular expressions; a text's score per domain is the sum of the weights
that match. Adding a cue is a one-line change to `_CUES`.
"""

from __future__ import annotations

import re

from nexus.routing.base import Classification, Domain

DOMAINS: tuple[Domain, ...] = ("code", "math", "reasoning", "knowledge", "writing", "finance", "conversation")

_CUES: dict[Domain, list[tuple[str, float]]] = {
    "code": [
        (r"```|traceback \(most recent call last\)|\bexception\b|\berror\[|\bstack ?trace\b", 2.0),
        (
            r"\b(python|javascript|typescript|java|rust|golang|go code|c\+\+|c#|kotlin|swift|sql|bash|regex|html|css)\b",
            1.5,
        ),
        (
            r"\b(function|class|method|compile|debug|bug|refactor|api|endpoint|docker|kubernetes|git|npm|pip|deploy)\b",
            1.0,
        ),
        (r"\b(def|return|import|const|let|var|public|void|async|await)\b|[{};]\s*$|=>|\(\)", 1.0),
        (r"\w(error|exception)\b|\bsegfault\b|\bnull ?pointer\b", 1.5),
    ],
    "math": [
        (
            r"\b(solve|integral|derivative|equation|prove|theorem|matrix|eigen\w*|probability|limit|polynomial)\b",
            1.5,
        ),
        (r"\d\s*[-+*/^=]\s*\d|\b[xyz]\s*[\^=+]|\\frac|\\int|\bsqrt\b|\bmod\b", 1.5),
        (
            r"\b(percent|fraction|area|volume|sum of|how many ways|mean|median|variance|divisible|prime)\b",
            1.0,
        ),
    ],
    "reasoning": [
        (
            r"\b(riddle|puzzle|logic(al)?|fallacy|syllogism|deduce|infer|valid argument|knights?|knaves?)\b",
            1.5,
        ),
        (
            r"\b(step by step|trade-?offs?|pros and cons|which (one )?is (the )?odd|what comes next|if all)\b",
            1.0,
        ),
        (r"\b(reason|conclude|conclusion|premise|argument|most likely)\b", 0.7),
    ],
    "knowledge": [
        (r"^\s*(who|what|when|where|which|why|how)\b", 0.8),
        (
            r"\b(history|capital|invented|discovered|century|war|country|planet|species|explain how|what is)\b",
            1.0,
        ),
        (r"\b(biology|chemistry|physics|geography|science|element|cell|dna|climate)\b", 1.0),
    ],
    "writing": [
        (r"\b(write|draft|compose|rewrite|rephrase|paraphrase|proofread|edit)\b", 1.5),
        (
            r"\b(poem|story|essay|email|letter|speech|toast|haiku|sonnet|lyrics|slogan|tagline|blurb|caption|bio)\b",
            1.5,
        ),
        (r"\b(tone|grammar|narrative|character|dialogue|scene|chapter|novel)\b", 1.0),
    ],
    "finance": [
        (
            r"\b(budget|invest\w*|portfolio|stocks?|bonds?|dividends?|tax(es)?|mortgage|loan|interest rate|retire\w*)\b",
            1.5,
        ),
        (
            r"\b(dcf|wacc|ebitda|ira|401\(?k\)?|etf|index fund|cash ?flow|valuation|revenue|margin|apr|roi|irr)\b",
            2.0,
        ),
        (r"[$€£]\s?\d|\b\d+(k|m)\b|\b(savings?|debt|credit card|salary|income|expenses?|runway)\b", 1.0),
    ],
    "conversation": [
        (
            r"^\W*(hi|hello|hey+|yo|sup|hiya|good (morning|afternoon|evening|night)|gm|howdy|hola|bonjour)\b",
            3.0,
        ),
        (r"\b(thanks?|thank you|thx|ty|cheers|appreciate it|bye|see you|lol|haha)\b", 2.0),
        (
            r"\b(how are you|how r u|about yourself|your favou?rite|are you a (bot|robot)|let'?s chat|i'?m (bored|tired|lonely))\b",
            2.0,
        ),
    ],
}

# Matched against the lower-cased text: IGNORECASE makes Python's regular expressions several times slower.
_COMPILED = {d: [(re.compile(p, re.MULTILINE), w) for p, w in cues] for d, cues in _CUES.items()}


def keyword_scores(text: str) -> dict[Domain, float]:
    lower = text.lower()
    return {d: sum(w for rx, w in cues if rx.search(lower)) for d, cues in _COMPILED.items()}


class KeywordClassifier:
    """Same output shape as `Classifier`; no model. Used when the embedder fails."""

    def domain(self, text: str) -> tuple[Domain, dict[str, float]]:
        scores = keyword_scores(text)
        total = sum(scores.values())
        if total == 0:
            # Nothing matched: a short line is most likely chat, a longer one a general question.
            guess: Domain = "conversation" if len(text.split()) <= 4 else "knowledge"
            return guess, {d: float(d == guess) for d in DOMAINS}
        best = max(DOMAINS, key=lambda d: scores[d])
        return best, {d: scores[d] / total for d in DOMAINS}

    def classify(self, text: str) -> Classification:
        from nexus.routing.flags import annotate

        domain, scores = self.domain(text)
        return annotate(text, domain, scores, method="keywords")
