"""Secret detectors: one realistic value per shape, masked away; and what must not be taken for one."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from nexus.guard import GuardContext, GuardPipeline
from nexus.guard.checks.secrets import SecretsCheck

from .secret_shapes import aws_access_key, aws_secret_key, rand, shapes

CTX = GuardContext()
DATA = Path(__file__).resolve().parents[2] / "src" / "nexus" / "guard" / "data"


@pytest.mark.parametrize(("kind", "value", "text"), shapes(), ids=lambda x: x if len(x) < 24 else None)
def test_each_shape_is_found_and_masked_away(kind: str, value: str, text: str) -> None:
    found = SecretsCheck().scan(text, CTX)
    assert kind in {f.kind for f in found}, found
    masked, verdict = GuardPipeline().enforce(text)
    assert value not in masked
    assert f"[SECRET:{kind}]" in masked
    assert "secret" in verdict.categories


def test_aws_secret_access_key_example_from_the_aws_docs() -> None:
    """The issue's case: the fast path masked the access key id but sent this one upstream."""
    text = "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    masked, _ = GuardPipeline().enforce(text)
    assert "wJalrXUtnFEMI" not in masked and "AKIAIOSFODNN7EXAMPLE" not in masked
    assert (
        masked
        == "aws_access_key_id = [SECRET:aws_access_key]\naws_secret_access_key = [SECRET:aws_secret_key]"
    )


@pytest.mark.parametrize(
    "text",
    [
        # Bare 40-character values without AWS context: a git SHA, a base64 digest, an identifier.
        f"fixed in commit {hashlib.sha1(b'x').hexdigest()} last week",
        f"the sha256 is {hashlib.sha256(b'y').hexdigest()}",
        "see /usr/local/lib/python3.11/site-packages/foo/bar/baz.py line 10",
        f"integrity token {rand('ABCDEFGHabcdefgh0123456789+/', 40)} in the lockfile",
        "ThisIsAVeryLongCamelCaseIdentifierName1234 = compute()",
        # Code that names a secret instead of holding one.
        "password = get_password()",
        "self.password = password",
        "token = os.environ['API_TOKEN']",
        'api_key = settings.openai_api_key  # read from "env"',
        "password: str | None = None",
        # Placeholders.
        'api_key = "your-api-key-here"\npassword=<PASSWORD>',
        "OPENAI_API_KEY=${OPENAI_API_KEY}",
        "password = '********'",
        # Prose.
        "The secret: chocolate and patience.",
        "What is the best way to store a password in PostgreSQL?",
        "Install scikit with pip; sk-learn-style estimators are fine.",
        "max_tokens=1000, temperature=0.2",
    ],
)
def test_no_secret_in_benign_text(text: str) -> None:
    assert SecretsCheck().scan(text, CTX) == []


def test_a_bare_aws_secret_needs_context_or_a_key_id_nearby() -> None:
    secret = aws_secret_key()
    assert SecretsCheck().scan(f"random blob {secret} in a fixture", CTX) == []
    near_id = SecretsCheck().scan(f"{aws_access_key()}\n{secret}", CTX)
    assert {f.kind for f in near_id} == {"aws_access_key", "aws_secret_key"}
    assert [f.kind for f in SecretsCheck().scan(f"my AWS creds: {secret}", CTX)] == ["aws_secret_key"]


def test_env_file_and_unterminated_pem_block() -> None:
    env = "DB_HOST=db\nDB_PASSWORD=s3cr3t-Pa55\nMYSQL_ROOT_PASSWORD=hunter2hunter2\n"
    masked, _ = GuardPipeline().enforce(env)
    assert "s3cr3t" not in masked and "hunter2" not in masked and "DB_HOST=db" in masked
    cut_short = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(
        rand("ABCDEFabcdef0123", 70) for _ in range(3)
    )
    masked, _ = GuardPipeline().enforce(f"pasted: {cut_short}\n")
    assert masked == "pasted: [SECRET:private_key]\n"


def test_no_secret_found_in_the_benign_evaluation_sets() -> None:
    """False positives measured on the 5,284 benign prompts (bench/bench_guard.py prints the rate)."""
    check = SecretsCheck()
    hits = []
    for name in ("benign_llmrouter.jsonl", "benign_authored.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").split("\n"):
            if not line:
                continue
            text = json.loads(line)["text"]
            hits += [(f.kind, text[:60]) for f in check.scan(text, CTX)]
    assert hits == []


def test_logs_full_of_hashes_and_ids_are_left_alone() -> None:
    rng = random.Random(7)
    lines = [
        f"2024-05-01T12:00:{i % 60:02d}Z INFO req={hashlib.md5(str(i).encode()).hexdigest()} "
        f"commit={hashlib.sha1(str(i).encode()).hexdigest()} user=u{rng.randrange(10**6)} "
        f'etag="{hashlib.sha256(str(i).encode()).hexdigest()[:40]}" took {rng.random():.3f}s'
        for i in range(300)
    ]
    assert SecretsCheck().scan("\n".join(lines), CTX) == []
