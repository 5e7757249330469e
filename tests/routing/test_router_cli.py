"""`nexus route`, `nexus router fit/predict`, `nexus router prototypes` through the real Typer app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nexus.cli.main import app
from nexus.config.settings import get_settings
from nexus.embeddings import HashingEmbedder
from nexus.embeddings.shared import set_embedder
from nexus.routing.keywords import KeywordClassifier

runner = CliRunner()


@pytest.fixture(autouse=True)
def _offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NEXUS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    set_embedder(HashingEmbedder())
    # The real keyword classifier instead of the embedding one, which trains on first use (slow).
    monkeypatch.setattr(
        "nexus.routing.router.default_classifier", lambda settings, embedder: KeywordClassifier()
    )
    yield
    set_embedder(None)
    get_settings.cache_clear()


def _train(path: Path, n: int = 30) -> Path:
    lines = []
    for i in range(n):
        code = i % 2 == 0
        prompt = f"write python code number {i}" if code else f"solve the equation number {i}"
        lines.append(
            json.dumps(
                {
                    "id": f"t{i}",
                    "prompt": prompt,
                    "scores": {"m1": 1.0 if code else 0.0, "m2": 0.0 if code else 1.0},
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_then_predict(tmp_path: Path) -> None:
    data = _train(tmp_path / "train.jsonl")
    out = tmp_path / "router"
    r = runner.invoke(app, ["router", "fit", "--data", str(data), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "weights.npz").exists() and json.loads((out / "meta.json").read_text())["models"] == [
        "m1",
        "m2",
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_text(
        json.dumps({"id": "b", "prompt": "solve the equation please"})
        + "\n"
        + json.dumps({"id": "a", "prompt": "write python code please"})
        + "\n"
    )
    pred = tmp_path / "out.jsonl"
    r = runner.invoke(
        app, ["router", "predict", "--router", str(out), "--input", str(inp), "--output", str(pred)]
    )
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in pred.read_text().splitlines()]
    assert [row["id"] for row in rows] == ["b", "a"]
    assert rows[0]["predicted"]["m2"] > rows[0]["predicted"]["m1"]
    assert rows[1]["predicted"]["m1"] > rows[1]["predicted"]["m2"]


def test_fit_reports_malformed_line(tmp_path: Path) -> None:
    data = _train(tmp_path / "train.jsonl", n=4)
    data.write_text(data.read_text() + '{"id": "x", "prompt": "p", "scores": {"m1": 2, "m2": 0}}\n')
    r = runner.invoke(app, ["router", "fit", "--data", str(data), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "train.jsonl:5" in r.output and "[0, 1]" in r.output


def test_fit_reports_unknown_model_against_prices(tmp_path: Path) -> None:
    data = _train(tmp_path / "train.jsonl", n=4)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"m1": {"input_price_per_mtok": 1, "output_price_per_mtok": 1}}))
    r = runner.invoke(
        app, ["router", "fit", "--data", str(data), "--out", str(tmp_path / "o"), "--prices", str(prices)]
    )
    assert r.exit_code == 2
    assert "train.jsonl:1" in r.output and "unknown model id 'm2'" in r.output


def test_route_json() -> None:
    r = runner.invoke(app, ["route", "Solve for x: 3x^2 - 5x + 2 = 0", "--json"])
    assert r.exit_code == 0, r.output
    decision = json.loads(r.stdout)
    assert decision["model"] == "qwen-3-235b"
    assert decision["explanation"]["rule"] == "knn" and decision["explanation"]["scores"]


def test_route_rich_rendering() -> None:
    r = runner.invoke(app, ["route", "Solve for x: 3x^2 - 5x + 2 = 0"])
    assert r.exit_code == 0, r.output
    assert "qwen-3-235b" in r.output and "rule=knn" in r.output and "nearest prototypes" in r.output


def test_prototypes_add_list_remove() -> None:
    r = runner.invoke(
        app, ["router", "prototypes", "add", "--model", "kimi-k2", "write a haskell monad tutorial"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["router", "prototypes", "list", "--model", "kimi-k2", "--json"])
    texts = [p["text"] for p in json.loads(r.stdout)]
    assert "write a haskell monad tutorial" in texts and len(texts) == 13
    r = runner.invoke(
        app, ["router", "prototypes", "remove", "--model", "kimi-k2", "write a haskell monad tutorial"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["router", "prototypes", "list", "--model", "kimi-k2", "--json"])
    assert len(json.loads(r.stdout)) == 12
    r = runner.invoke(app, ["router", "prototypes", "add", "--model", "nope", "x"])
    assert r.exit_code == 2 and "unknown model id 'nope'" in r.output


def test_routing_suite_evaluation(tmp_path: Path) -> None:
    from nexus.cli.route import build_router, evaluate_router_suite, load_suite

    suite = load_suite()
    assert len(suite) >= 60 and {"prompt", "label", "model", "tier"} <= set(suite[0])
    report = evaluate_router_suite(build_router(), chart=tmp_path / "sweep.png")
    assert report["n"] == len(suite) and 0.0 <= report["accuracy"] <= 1.0
    assert set(report["per_label"]) >= {"code", "math", "conversation"}
    assert sum(report["confusion"].values()) == len(suite)
    costs = [s["cost_per_1k"] for s in report["cost_quality"]]
    assert costs[0] >= costs[-1]  # a higher λ never buys a dearer mix
    assert (tmp_path / "sweep.png").stat().st_size > 0


def test_retrain_promote_versions_and_settings(tmp_path: Path) -> None:
    """`nexus router retrain|promote|versions|settings` on the store the gateway would use."""
    import asyncio

    from nexus.config import load_catalogue
    from nexus.store import TenantScope, open_store
    from nexus.store.repos.router import Feedback, RoutedTurns

    model = load_catalogue(get_settings().config).ids[0]
    prompt = "write a python function that sorts a list of dictionaries by age"

    async def seed() -> None:
        store = await open_store(get_settings())
        scope = TenantScope("acme", False)
        for i in range(3):
            await store.work_orders(scope).add(id=f"wo{i}", route="pipeline", owner_model=model)
            await RoutedTurns(store.sessions, scope).add(work_order_id=f"wo{i}", prompt=prompt)
            await Feedback(store.sessions, scope).add(
                work_order_id=f"wo{i}", score=0.0, prompt=prompt, model=model
            )
        await store.close()

    asyncio.run(seed())
    # Nothing to promote before a retrain; another tenant has nothing to learn from.
    assert runner.invoke(app, ["router", "promote", "--tenant", "acme"]).exit_code == 2
    assert runner.invoke(app, ["router", "retrain", "--tenant", "globex"]).exit_code == 2

    result = runner.invoke(app, ["router", "retrain", "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == "candidate" and report["ratings"] == 3
    listed = json.loads(runner.invoke(app, ["router", "versions", "--tenant", "acme"]).stdout)
    assert [v["status"] for v in listed] == ["candidate"]

    promoted = runner.invoke(app, ["router", "promote", "--tenant", "acme"])
    assert promoted.exit_code == 0, promoted.output
    listed = json.loads(runner.invoke(app, ["router", "versions", "--tenant", "acme"]).stdout)
    assert [v["status"] for v in listed] == ["promoted"]

    out = runner.invoke(
        app, ["router", "settings", "--tenant", "acme", "--arm", "a=1", "--arm", "b=3:2.0", "--cache"]
    )
    assert out.exit_code == 0, out.output
    shown = json.loads(out.stdout)
    assert shown["cache_enabled"] is True
    assert shown["arms"][1] == {"name": "b", "weight": 3.0, "cost_lambda": 2.0, "feedback": True}
    assert runner.invoke(app, ["router", "settings", "--tenant", "acme", "--arm", "bad"]).exit_code == 2
