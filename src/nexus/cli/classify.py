"""`nexus classify --input IN.jsonl --output OUT.jsonl`: offline batch classification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

_FIELDS = ("domain", "complexity", "can_self_answer", "ambiguous", "critical", "subtasks")
_BATCH = 64


class InputError(ValueError):
    """A malformed input line; the message names the line."""


def read_prompts(path: Path) -> list[tuple[object, str]]:
    rows: list[tuple[object, str]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("prompt"), str):
                raise InputError(f'{path}:{number}: expected an object with "id" and a string "prompt"')
            rows.append((row["id"], row["prompt"]))
    return rows


def classify_cmd(
    input: Annotated[
        Path, typer.Option("--input", "-i", help='JSONL lines {"id", "prompt"}.', exists=True, dir_okay=False)
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="JSONL with one classification per input line.")
    ],
) -> None:
    """Classify prompts offline: domain, complexity, flags and subtasks, in input order."""
    console = Console(stderr=True)
    try:
        rows = read_prompts(input)
    except InputError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    from nexus.routing.classifier import Classifier

    classifier = Classifier()
    with (
        Progress(console=console, transient=True, disable=len(rows) < 200) as progress,
        output.open("w", encoding="utf-8") as out,
    ):
        task = progress.add_task("classifying", total=len(rows))
        for start in range(0, len(rows), _BATCH):
            chunk = rows[start : start + _BATCH]
            for (row_id, _), result in zip(
                chunk, classifier.classify_batch([p for _, p in chunk]), strict=True
            ):
                record = {"id": row_id, **result.model_dump(include=set(_FIELDS))}
                out.write(json.dumps({k: record[k] for k in ("id", *_FIELDS)}, ensure_ascii=False) + "\n")
            progress.advance(task, len(chunk))
    console.print(f"classified {len(rows)} prompts → {output}")
