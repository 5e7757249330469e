"""`nexus router fit|predict|prototypes`: train and apply the learned router, manage KNN prototypes;
`nexus router retrain|promote|versions|settings`: the per-tenant router on live traffic."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from nexus.config import get_settings, load_catalogue
from nexus.routing.base import Embedder
from nexus.routing.dataset import RoutingDataError, read_outcomes, read_prices, read_prompts
from nexus.routing.learned import LearnedRouter, LearnedRouterError, embed_cached
from nexus.routing.prototypes import PrototypeError, PrototypeStore, overlay_path

if TYPE_CHECKING:
    from nexus.runtime import Services

app = typer.Typer(help="Learned router (fit/predict) and KNN prototype management.", no_args_is_help=True)
prototypes_app = typer.Typer(help="List, add or remove a model's prototype queries.", no_args_is_help=True)
app.add_typer(prototypes_app, name="prototypes")

console = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def _embedder() -> Embedder:
    # The routing view (its token budget): a learned router must see prompts as decide() embeds them.
    from nexus.embeddings.shared import get_routing_embedder

    return get_routing_embedder(get_settings())


@contextmanager
def _progress(label: str) -> Iterator[object]:
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def embed_texts(texts: list[str], label: str = "embedding") -> tuple[Embedder, object]:
    """Embed with the shared embedder and the on-disk cache, showing a progress bar."""
    embedder = _embedder()
    from nexus.embeddings.cache import embedder_key

    cache = get_settings().data_dir / "router" / "embeddings" / embedder_key(embedder)
    with _progress(label) as update:
        vecs = embed_cached(embedder, texts, cache, progress=update)  # type: ignore[arg-type]
    return embedder, vecs


@app.command("fit")
def fit(
    data: Annotated[Path, typer.Option("--data", help="training JSONL: {id, prompt, scores:{model: 0..1}}")],
    out: Annotated[Path, typer.Option("--out", help="directory for weights.npz + meta.json")],
    prices: Annotated[
        Path | None, typer.Option("--prices", help="JSON {model: {input/output_price_per_mtok}}")
    ] = None,
    folds: Annotated[int, typer.Option("--folds", min=2)] = 5,
    families: Annotated[
        Path | None,
        typer.Option(
            "--families",
            help="JSONL {prompt, source} naming each prompt's task family (e.g. the LLMRouter domain data): "
            "the candidate is then chosen holding out whole families. Prompts not listed take their "
            "nearest listed prompt's family.",
        ),
    ] = None,
) -> None:
    """Fit the learned quality router (candidate chosen by k-fold, or leave-one-family-out, CV)."""
    try:
        price_map = read_prices(prices) if prices else None
        outcomes = read_outcomes(data, set(price_map) if price_map else None)
    except RoutingDataError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{len(outcomes.prompts)} prompts × {len(outcomes.models)} models from {data}")
    embedder, vecs = embed_texts(outcomes.prompts)
    groups = _families(families, outcomes.prompts, vecs) if families else None  # type: ignore[arg-type]
    label = f"{len(set(groups))} held-out families" if groups else f"{folds} folds"
    with console.status(f"cross-validating ({label})…"):
        router = LearnedRouter.fit(
            vecs,  # type: ignore[arg-type]
            outcomes.scores,
            outcomes.models,
            embedder_name=embedder.name,
            prices={m: price_map[m] for m in outcomes.models} if price_map else None,
            folds=folds,
            groups=groups,
        )
    router.save(out)
    table = Table(title=f"CV ({label})")
    for col in ("candidate", "mse", "routed score"):
        table.add_column(col)
    for row in router.cv:
        mark = " ←" if row["candidate"] == router.candidate.label else ""
        table.add_row(row["candidate"] + mark, f"{row['mse']:.4f}", f"{row['routed_score']:.4f}")
    console.print(table)
    console.print(f"saved {router.candidate.label} to {out}")


def _families(path: Path, prompts: list[str], vecs: object) -> list[str]:
    from nexus.routing.corpus import read_jsonl
    from nexus.routing.learned_eval import infer_families

    try:
        reference = read_jsonl(path)
    except (OSError, ValueError) as exc:
        raise _fail(f"{path}: cannot read families: {exc}") from None
    if not reference:
        raise _fail(f"{path}: no {{prompt, domain, source}} rows")
    by_text = {r.prompt: r.source for r in reference}
    if all(p in by_text for p in prompts):
        return [by_text[p] for p in prompts]
    _, ref_vecs = embed_texts([r.prompt for r in reference], label="embedding family reference")
    inferred = infer_families(vecs, ref_vecs, [r.source for r in reference])  # type: ignore[arg-type]
    return [by_text.get(p, guess) for p, guess in zip(prompts, inferred, strict=True)]


@app.command("predict")
def predict(
    router_dir: Annotated[Path, typer.Option("--router", help="directory written by `nexus router fit`")],
    input: Annotated[Path, typer.Option("--input", help="JSONL with {id, prompt}")],
    output: Annotated[
        Path, typer.Option("--output", help="JSONL {id, predicted:{model: score}}, same order")
    ],
) -> None:
    """Predict every model's expected score for each prompt."""
    try:
        router = LearnedRouter.load(router_dir)
        items = read_prompts(input)
    except (LearnedRouterError, RoutingDataError) as exc:
        raise _fail(str(exc)) from None
    embedder, vecs = embed_texts([i.prompt for i in items])
    if embedder.name != router.embedder_name:
        raise _fail(
            f"router was fitted with embedder {router.embedder_name!r}, this process has {embedder.name!r}"
        )
    pred = router.predict(vecs)  # type: ignore[arg-type]
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as f:
        for item, row in zip(items, pred, strict=True):
            scores = {m: round(float(v), 6) for m, v in zip(router.models, row, strict=True)}
            f.write(json.dumps({"id": item.id, "predicted": scores}) + "\n")
    console.print(f"wrote {len(items)} predictions to {output}")


def _store() -> PrototypeStore:
    settings = get_settings()
    catalogue = load_catalogue(settings.config)
    return PrototypeStore.from_catalogue(catalogue, _embedder(), overlay_path(settings.data_dir))


@prototypes_app.command("list")
def list_prototypes(
    model: Annotated[str | None, typer.Option("--model", help="only this model")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    try:
        pairs = _store().entries(model)
    except PrototypeError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([{"model": m, "text": t} for m, t in pairs], indent=2))
        return
    table = Table(title="prototypes")
    table.add_column("model")
    table.add_column("#")
    table.add_column("text")
    counts: dict[str, int] = {}
    for m, t in pairs:
        table.add_row(m, str(counts.get(m, 0)), t)
        counts[m] = counts.get(m, 0) + 1
    Console().print(table)


@prototypes_app.command("add")
def add_prototype(
    text: Annotated[str, typer.Argument(help="the prototype query")],
    model: Annotated[str, typer.Option("--model", help="catalogue model id")],
) -> None:
    try:
        _store().add(model, text)
    except PrototypeError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"added prototype to {model}")


@prototypes_app.command("remove")
def remove_prototype(
    model: Annotated[str, typer.Option("--model", help="catalogue model id")],
    text: Annotated[str | None, typer.Argument(help="exact prototype text")] = None,
    index: Annotated[int | None, typer.Option("--index", help="position in `list --model`")] = None,
) -> None:
    if (text is None) == (index is None):
        raise _fail("give the prototype TEXT or --index")
    try:
        removed = _store().remove(model, text=text, index=index)
    except PrototypeError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"removed prototype from {model}: {removed}")


# -- the router on live traffic: retrain from feedback, promote, A/B arms, the semantic cache ----------
TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="The tenant whose router this is")]


def _tuning(action: Callable[[Services], Awaitable[Any]]) -> Any:
    """Run `action` on this process's services (the same runtime the gateway builds, without jobs)."""
    import asyncio

    from nexus.runtime import build

    async def main() -> Any:
        async with build(get_settings(), jobs=False) as services:
            return await action(services)

    from nexus.service.errors import ServiceError

    try:
        return asyncio.run(main())
    except ServiceError as exc:
        raise _fail(exc.message) from None


@app.command("retrain")
def retrain(tenant: TenantOpt) -> None:
    """Fit a CANDIDATE router from the tenant's feedback. It serves nothing until `nexus router promote`."""
    from nexus.store import TenantScope

    report = _tuning(lambda s: s.tuning.retrain(TenantScope.system(), tenant))
    console.print(
        f"candidate version {report['version']} for {tenant}: {report['ratings']} ratings, "
        f"{len(report['changed'])} of {report['compared']} rated prompts would route differently"
    )
    table = Table("prompt", "served", "candidate")
    for c in report["changed"]:
        table.add_row(c["prompt"][:80], c["served"], c["candidate"])
    if report["changed"]:
        console.print(table)
    typer.echo(json.dumps(report))


@app.command("promote")
def promote(
    tenant: TenantOpt,
    version: Annotated[int | None, typer.Option(help="A version id (default: the latest candidate)")] = None,
) -> None:
    """Serve the tenant's candidate router (an explicit admin action; running gateways follow within 30 s)."""
    from nexus.store import TenantScope

    out = _tuning(lambda s: s.tuning.promote(TenantScope.system(), tenant, version))
    console.print(f"version {out['version']} now serves {tenant}")
    typer.echo(json.dumps(out))


@app.command("versions")
def versions(tenant: TenantOpt) -> None:
    """The tenant's router versions (candidate, promoted, retired)."""
    from nexus.store import TenantScope

    typer.echo(json.dumps(_tuning(lambda s: s.tuning.versions(TenantScope.system(), tenant)), indent=2))


def _arm(spec: str) -> dict[str, Any]:
    name, _, rest = spec.partition("=")
    weight, _, lam = rest.partition(":")
    try:
        return {"name": name, "weight": float(weight), **({"cost_lambda": float(lam)} if lam else {})}
    except ValueError:
        raise _fail(f"arm {spec!r}: use NAME=WEIGHT[:COST_LAMBDA]") from None


@app.command("settings")
def tenant_settings(
    tenant: TenantOpt,
    arm: Annotated[
        list[str] | None,
        typer.Option(help="An A/B arm NAME=WEIGHT[:COST_LAMBDA] (repeat; replaces the arms)"),
    ] = None,
    no_ab: Annotated[bool, typer.Option("--no-ab", help="Stop the tenant's A/B test")] = False,
    cache: Annotated[bool | None, typer.Option("--cache/--no-cache", help="The semantic cache")] = None,
    threshold: Annotated[float | None, typer.Option(help="Cache similarity threshold")] = None,
    ttl: Annotated[int | None, typer.Option(help="Cache TTL in seconds")] = None,
) -> None:
    """Show or set a tenant's A/B arms and semantic cache."""
    from nexus.service.feedback import RouterSettingsIn
    from nexus.store import TenantScope

    arms = [] if no_ab else ([_arm(a) for a in arm] if arm else None)
    try:
        body = RouterSettingsIn.model_validate(
            {"arms": arms, "cache_enabled": cache, "cache_threshold": threshold, "cache_ttl_s": ttl}
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None

    async def action(s: Services) -> dict[str, Any]:
        own = await s.tuning.save_settings(TenantScope.system(), tenant, body)
        return own.public()

    typer.echo(json.dumps({"tenant": tenant, **_tuning(action)}, indent=2))


@app.command("ab-report")
def ab_report(tenant: TenantOpt) -> None:
    """Per A/B arm: routed turns, mean rating with a 95 % interval, mean cost and latency."""
    from nexus.store import TenantScope

    rows = _tuning(lambda s: s.tuning.ab_report(TenantScope.system(), tenant))
    table = Table("arm", "turns", "ratings", "score", "95 % CI", "cost $/turn", "latency ms")
    for r in rows:
        ci = r["score_ci95"]
        table.add_row(
            r["arm"],
            str(r["turns"]),
            str(r["ratings"]),
            "—" if r["score"] is None else f"{r['score']:.3f}",
            "—" if ci is None else f"{ci[0]:.3f}–{ci[1]:.3f}",
            f"{r['mean_cost_usd']:.6f}",
            "—" if r["mean_latency_ms"] is None else f"{r['mean_latency_ms']:.0f}",
        )
    console.print(table)
    typer.echo(json.dumps(rows))
