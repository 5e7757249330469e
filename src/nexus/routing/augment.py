"""Synthetic training prompts shaped like real traffic that no public source supplies in volume:
long code dumps with the question at the end (or the start), pasted logs and stack traces, and
multi-paragraph briefs whose domain is set by the ask, not by the pasted context.

Deterministic for a seed, so the shipped weights can be reproduced. Generated, so free of licence terms.
"""

from __future__ import annotations

import random

from nexus.routing.base import Domain
from nexus.routing.corpus import Example

_NAMES = [
    "user", "order", "invoice", "cart", "session", "payload", "config", "item", "record", "event", "token",
    "account", "report", "queue", "cache", "message", "customer", "batch", "job", "node", "row", "price",
]  # fmt: skip
_VERBS = ["load", "parse", "save", "build", "fetch", "merge", "update", "validate", "render", "sync", "sort"]

_CODE: dict[str, list[str]] = {
    "python": [
        "def {v}_{n}(self, {n}_id: int) -> dict:\n    {n} = self.db.get({n}_id)\n    if {n} is None:\n"
        "        raise KeyError({n}_id)\n    return {{k: v for k, v in {n}.items() if v is not None}}\n",
        "class {N}Service:\n    def __init__(self, repo):\n        self.repo = repo\n        self._cache = {{}}\n\n"
        "    def {v}(self, key):\n        if key in self._cache:\n            return self._cache[key]\n"
        "        value = self.repo.{v}(key)\n        self._cache[key] = value\n        return value\n",
        "import json\nimport logging\n\nlog = logging.getLogger(__name__)\n\n\nasync def {v}_{n}s(client, ids):\n"
        "    results = []\n    for i in ids:\n        resp = await client.get(f'/api/{n}/{{i}}')\n"
        "        resp.raise_for_status()\n        results.append(json.loads(resp.text))\n    return results\n",
    ],
    "javascript": [
        "export async function {v}{N}(id) {{\n  const res = await fetch(`/api/{n}/${{id}}`);\n"
        "  if (!res.ok) throw new Error(`failed: ${{res.status}}`);\n  return res.json();\n}}\n",
        "const {n}Reducer = (state = initialState, action) => {{\n  switch (action.type) {{\n"
        "    case '{V}_{N}':\n      return {{ ...state, {n}: action.payload }};\n    default:\n      return state;\n"
        "  }}\n}};\n",
        "function use{N}() {{\n  const [{n}, set{N}] = useState(null);\n  useEffect(() => {{\n"
        "    {v}{N}().then(set{N});\n  }}, []);\n  return {n};\n}}\n",
    ],
    "go": [
        "func (s *{N}Store) {V}(ctx context.Context, id int64) (*{N}, error) {{\n"
        '\trow := s.db.QueryRowContext(ctx, "SELECT id, name FROM {n}s WHERE id = $1", id)\n'
        "\tvar x {N}\n\tif err := row.Scan(&x.ID, &x.Name); err != nil {{\n\t\treturn nil, err\n\t}}\n"
        "\treturn &x, nil\n}}\n",
        'type {N} struct {{\n\tID   int64  `json:"id"`\n\tName string `json:"name"`\n}}\n',
    ],
    "java": [
        "public class {N}Controller {{\n    private final {N}Repository repository;\n\n"
        "    public {N} {v}(Long id) {{\n        return repository.findById(id)\n"
        '            .orElseThrow(() -> new NotFoundException("{n} " + id));\n    }}\n}}\n',
    ],
    "rust": [
        "pub fn {v}_{n}(input: &str) -> Result<Vec<{N}>, Error> {{\n    let mut out = Vec::new();\n"
        "    for line in input.lines() {{\n        let item: {N} = serde_json::from_str(line)?;\n"
        "        out.push(item);\n    }}\n    Ok(out)\n}}\n",
    ],
    "sql": [
        "SELECT c.id, c.name, SUM(o.total) AS revenue\nFROM customers c\nJOIN {n}s o ON o.customer_id = c.id\n"
        "WHERE o.created_at >= NOW() - INTERVAL '30 days'\nGROUP BY c.id, c.name\nORDER BY revenue DESC;\n",
        "CREATE TABLE {n}s (\n  id BIGSERIAL PRIMARY KEY,\n  name TEXT NOT NULL,\n  created_at TIMESTAMPTZ DEFAULT now()\n);\n",
    ],
}
_CODE_QUESTIONS = [
    "Why does this crash when the list is empty?", "What does this code do?", "Can you find the bug?",
    "How can I make this faster?", "Please refactor this to be more readable.", "Add error handling to this.",
    "Why am I getting a null reference here?", "Write unit tests for the functions above.",
    "is there a race condition in this?", "convert this to typescript", "explain this code line by line",
    "Warum funktioniert dieser Code nicht?", "¿Por qué falla esta función?", "这段代码有什么问题？",
    "Review this PR and point out problems.", "this returns undefined, why", "how do I fix the memory leak here",
]  # fmt: skip
_LOG_TEMPLATES = [
    "{ts} ERROR [{n}-worker-{i}] Failed to {v} {n} {i}: connection refused",
    "{ts} WARN  {N}Service - retrying {v} after timeout ({i} ms)",
    "{ts} INFO  request_id={i} path=/api/{n} status=500 duration={i}ms",
    'Traceback (most recent call last):\n  File "/app/{n}.py", line {i}, in {v}\n    return self.{n}[key]\nKeyError: \'{n}\'',
    "java.lang.NullPointerException: Cannot invoke \"{N}.get{N}()\"\n\tat com.acme.{N}Service.{v}({N}Service.java:{i})",
    "{ts} kubelet Back-off restarting failed container {n} in pod {n}-{i}",
]  # fmt: skip
_LOG_QUESTIONS = [
    "What is going wrong here?", "Why does the service keep restarting?", "how do I fix this error?",
    "Can you explain this stack trace?", "what's causing the 500s?", "Was bedeutet dieser Fehler?",
]  # fmt: skip

_CONTEXT: dict[str, list[str]] = {
    "business": [
        "Our company sells handmade furniture online and ships to twelve countries.",
        "We launched a new subscription tier last quarter and adoption has been slower than planned.",
        "The team is eight people, mostly remote, and we meet in person twice a year.",
        "Customers tell us they love the quality but find delivery times too long.",
        "Next month we are opening a showroom in Lisbon, our first physical location.",
        "Our brand voice is warm, a little playful, and never pushy.",
    ],
    "personal": [
        "I am 34, married, with one child and another on the way.",
        "My take-home pay is about 4,200 a month and rent is 1,450.",
        "I have 18,000 in a savings account earning almost nothing and a car loan at 6.9%.",
        "My employer matches 401k contributions up to 5% and I currently put in 3%.",
        "We want to buy a house in about three years.",
        "I also have roughly 6,000 on a credit card that I pay down slowly.",
    ],
    "science": [
        "Photosynthesis converts light energy into chemical energy stored in glucose.",
        "The Treaty of Westphalia in 1648 ended the Thirty Years' War.",
        "Plate tectonics explains earthquakes, volcanoes and the formation of mountain ranges.",
        "Antibiotics do not work against viruses because viruses lack the structures they target.",
        "The Industrial Revolution began in Britain in the late eighteenth century.",
    ],
}
_ASKS: dict[Domain, list[tuple[str, str]]] = {
    "writing": [
        ("business", "Write a launch announcement for our newsletter based on the above."),
        ("business", "Draft a friendly email to customers explaining the delay, in our brand voice."),
        ("business", "Write three taglines for the showroom opening."),
        ("business", "Rewrite the paragraph above so it sounds more confident and concise."),
        ("science", "Turn this into a short story for children."),
        ("business", "Schreib daraus einen kurzen LinkedIn-Post."),
        ("business", "Escribe un correo para los clientes con este contexto."),
    ],
    "finance": [
        ("personal", "Should I pay off the car loan first or invest the savings?"),
        ("personal", "How much should I contribute to the 401k given all this?"),
        ("personal", "Help me build a monthly budget from these numbers."),
        ("personal", "Is it smarter to keep an emergency fund or pay down the credit card?"),
        ("business", "What pricing and cash-flow risks should we plan for with the new tier?"),
        ("personal", "¿Me conviene invertir en un fondo indexado o amortizar la deuda?"),
    ],
    "knowledge": [
        ("science", "Can you explain the history behind this in more detail?"),
        ("science", "Which of these facts is most important for an exam, and why?"),
        ("science", "Explain each of these points to a ten-year-old."),
        ("science", "What are the main causes behind the events described above?"),
        ("science", "Erkläre mir das genauer."),
    ],
    "math": [
        (
            "personal",
            "If the savings earned 4% compounded monthly, what would they be worth in 3 years? Show the calculation.",
        ),
        (
            "business",
            "If adoption grows 12% per month from 400 subscribers, when do we pass 2,000? Solve it.",
        ),
        (
            "personal",
            "What is the monthly payment on a 15,000 loan at 6.9% over 48 months? Show the formula.",
        ),
    ],  # fmt: skip
    "reasoning": [
        ("business", "Using only these facts, which conclusion follows logically, and which does not?"),
        ("business", "Think step by step: what is the most likely explanation for the slow adoption?"),
    ],
}


def _ident(rng: random.Random) -> dict[str, str]:
    n, v = rng.choice(_NAMES), rng.choice(_VERBS)
    return {"n": n, "N": n.capitalize(), "v": v, "V": v.upper(), "i": str(rng.randint(2, 9999))}


def code_dump(rng: random.Random, target_chars: int) -> str:
    lang = rng.choice(list(_CODE))
    parts: list[str] = []
    size = 0
    while size < target_chars:
        part = rng.choice(_CODE[lang]).format(**_ident(rng))
        parts.append(part)
        size += len(part) + 1
    body = "\n".join(parts)
    question = rng.choice(_CODE_QUESTIONS)
    fence = rng.random() < 0.5
    if fence:
        body = f"```{lang}\n{body}```"
    return f"{question}\n\n{body}" if rng.random() < 0.25 else f"{body}\n\n{question}"


def log_paste(rng: random.Random, lines: int) -> str:
    out = []
    for _ in range(lines):
        ts = f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 1{rng.randint(0, 9)}:{rng.randint(10, 59)}:{rng.randint(10, 59)}"
        out.append(rng.choice(_LOG_TEMPLATES).format(ts=ts, **_ident(rng)))
    return "\n".join(out) + "\n\n" + rng.choice(_LOG_QUESTIONS)


def brief(rng: random.Random, domain: Domain, paragraphs: int) -> str:
    topic, ask = rng.choice(_ASKS[domain])
    pool = _CONTEXT[topic]
    text = "\n\n".join(" ".join(rng.sample(pool, k=min(3, len(pool)))) for _ in range(paragraphs))
    return f"{text}\n\n{ask}"


def generate(seed: int = 7, per_kind: int = 60) -> list[Example]:
    """Code dumps from 1k to 20k characters, pasted logs, and multi-paragraph briefs per domain."""
    rng = random.Random(seed)
    out: list[Example] = []
    for i in range(per_kind * 2):
        size = (600, 2000, 6000, 20000)[i % 4]
        out.append(Example(code_dump(rng, size), "code", "augmented"))
    for i in range(per_kind):
        out.append(Example(log_paste(rng, 4 + (i % 5) * 12), "code", "augmented"))
    for domain in _ASKS:
        for i in range(per_kind // 2):
            out.append(Example(brief(rng, domain, 1 + i % 4), domain, "augmented"))
    return out
