from __future__ import annotations

from pathlib import Path

import pytest

from nexus.config.catalogue import CatalogueError, load_catalogue, parse_catalogue
from nexus.config.settings import Settings

ENTRY = """
  - id: {id}
    provider: openai
    model: m
    base_url: http://127.0.0.1:1/v1
    api_key_env: K
    input_price_per_mtok: {price}
    output_price_per_mtok: 1
    context_window: 1000
    tags: [a]
"""


def test_default_catalogue_has_the_classic_eight_models_with_roles() -> None:
    cat = load_catalogue()
    assert len(cat.models) == 8
    assert {
        "llama-3.1-8b-cerebras",
        "llama-3.1-8b-groq",
        "kimi-k2",
        "gpt-oss-120b",
        "qwen-3-235b",
        "gpt-4o",
        "gemini-2.5-flash",
        "claude-opus",
    } == set(cat.ids)
    assert cat.role("judge") == "gpt-4o"
    assert cat.role("escalation") == "claude-opus"
    assert cat.worker_for("code") == "kimi-k2"
    for m in cat.models:
        assert m.input_price_per_mtok > 0 and m.output_price_per_mtok > 0
        assert len(m.prototypes) >= 10, f"{m.id} needs at least 10 prototypes"


def test_invalid_entry_error_names_entry_and_field() -> None:
    text = "models:" + ENTRY.format(id="ok", price=1) + ENTRY.format(id="bad-one", price=-3)
    with pytest.raises(CatalogueError) as exc:
        parse_catalogue(text, "cat.yaml")
    msg = str(exc.value)
    assert "models[1]" in msg and "bad-one" in msg and "input_price_per_mtok" in msg


def test_missing_field_and_unknown_field_are_named() -> None:
    text = "models:" + ENTRY.format(id="x", price=1).replace(
        "    context_window: 1000\n", "    colour: red\n"
    )
    with pytest.raises(CatalogueError) as exc:
        parse_catalogue(text)
    assert "context_window" in str(exc.value) and "colour" in str(exc.value)


def test_references_are_checked() -> None:
    text = "models:" + ENTRY.format(id="x", price=1) + "roles:\n  judge: nope\n"
    with pytest.raises(CatalogueError, match="roles.judge: unknown model id 'nope'"):
        parse_catalogue(text)
    dup = "models:" + ENTRY.format(id="x", price=1) + ENTRY.format(id="x", price=2)
    with pytest.raises(CatalogueError, match="duplicate id"):
        parse_catalogue(dup)


def test_not_yaml_and_no_models(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="not valid YAML"):
        parse_catalogue("models: [unclosed")
    with pytest.raises(CatalogueError, match="top-level 'models:'"):
        parse_catalogue("roles: {}")
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "missing.yaml")


def test_demo_view_marks_every_model_simulated() -> None:
    demo = load_catalogue().demo_view()
    assert all(m.provider == "demo" and m.simulated for m in demo.models)


def test_secret_from_env_then_secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "secrets.env"
    f.write_text("# providers\nFOO_KEY='from-file'\nBAR_KEY=bar\n")
    s = Settings(secrets_file=f)
    monkeypatch.setenv("BAR_KEY", "from-env")
    monkeypatch.delenv("FOO_KEY", raising=False)
    assert s.secret("FOO_KEY") == "from-file"
    assert s.secret("BAR_KEY") == "from-env"
    assert s.secret("NOPE_KEY") is None
