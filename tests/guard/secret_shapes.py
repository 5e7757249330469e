"""Realistic credential values for the guard tests, generated (never real, never committed as such).

Each maker returns text as a user or a log would contain it, with the secret's exact value, so a test
can check both the kind found and that the value is gone after masking.
"""

from __future__ import annotations

import base64
import json
import random
import string

_RNG = random.Random(20240518)
ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


def rand(alphabet: str, n: int) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def aws_access_key() -> str:
    return "AKIA" + rand(string.ascii_uppercase + "234567", 16)


def aws_secret_key() -> str:
    while True:
        value = rand(B64, 40)
        if (
            any(c.isupper() for c in value)
            and any(c.islower() for c in value)
            and any(c.isdigit() for c in value)
        ):
            return value


def jwt() -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': '1234567890', 'name': 'Jo', 'iat': 1516239022})}.{rand(URLSAFE, 43)}"


def pem() -> str:
    body = "\n".join(rand(B64, 64) for _ in range(6))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


# (kind, secret value, the text it appears in)
def shapes() -> list[tuple[str, str, str]]:
    aws_id, aws_secret = aws_access_key(), aws_secret_key()
    openai_legacy = "sk-" + rand(ALNUM, 20) + "T3BlbkFJ" + rand(ALNUM, 20)
    openai_proj = "sk-proj-" + rand(URLSAFE, 156)
    anthropic = "sk-ant-api03-" + rand(URLSAFE, 93) + "AA"
    google = "AIza" + rand(URLSAFE, 35)
    github = "ghp_" + rand(ALNUM, 36)
    github_pat = "github_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59)
    slack = "xoxb-" + rand(string.digits, 12) + "-" + rand(string.digits, 13) + "-" + rand(ALNUM, 24)
    stripe = "sk_live_" + rand(ALNUM, 99)
    token = jwt()
    key = pem()
    password = "Tr0ub4dor&3-" + rand(ALNUM, 6)
    bearer = rand(URLSAFE, 40)
    db_password = rand(ALNUM, 14)
    return [
        ("aws_access_key", aws_id, f"my access key id is {aws_id}"),
        ("aws_secret_key", aws_secret, f"aws_secret_access_key = {aws_secret}"),
        ("aws_secret_key", aws_secret, f'{{"AccessKeyId": "{aws_id}", "SecretAccessKey": "{aws_secret}"}}'),
        ("aws_secret_key", aws_secret, f"export AWS_SECRET_ACCESS_KEY={aws_secret}"),
        ("aws_secret_key", aws_secret, f"here are my creds: {aws_id} {aws_secret} — why does s3 ls fail?"),
        ("openai_key", openai_legacy, f"OPENAI_API_KEY is {openai_legacy}, is that the right format?"),
        ("openai_key", openai_proj, f"client = OpenAI(api_key='{openai_proj}')"),
        (
            "anthropic_key",
            anthropic,
            f"curl -H 'x-api-key: {anthropic}' https://api.anthropic.com/v1/messages",
        ),
        ("google_api_key", google, f"https://maps.googleapis.com/maps/api/geocode/json?key={google}"),
        ("github_token", github, f"git clone https://{github}@github.com/acme/app.git"),
        ("github_token", github_pat, f"GH_TOKEN: {github_pat}"),
        ("slack_token", slack, f"SLACK_BOT_TOKEN {slack} stopped working"),
        ("stripe_key", stripe, f"stripe.api_key = '{stripe}'"),
        ("jwt", token, f"Authorization header was {token} and the server says 401"),
        ("private_key", key, f"my deploy key:\n{key}\nwhy is it rejected?"),
        ("password_assignment", password, f'db = connect(host="db", password="{password}")'),
        ("bearer_token", bearer, f"Authorization: Bearer {bearer}"),
        ("url_credentials", db_password, f"DATABASE_URL=postgres://app:{db_password}@db.internal:5432/app"),
    ]
