"""Imports point down the package table of docs/architecture.md only: a lower package never imports a
higher one, and the lower packages import exactly what the table lets them."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "nexus"

# package → the nexus packages it may import (besides itself).
LOW: dict[str, set[str]] = {
    "config": set(),
    "embeddings": {"config"},
    "providers": {"config"},
    "routing": {"config", "embeddings"},
    "guard": {"config"},
    # Audio signal handling (PCM, VAD) and the offline transcriber, on the provider seam.
    "voice": {"config", "providers"},
    "store": {"config"},
    "telemetry": {"config"},
    "rag": {"config", "embeddings", "store"},
    "jobs": {"config", "store", "telemetry"},
    "pipeline": {"config", "providers", "routing", "rag", "guard", "embeddings"},
    # The code-execution tool runs in the guard's sandbox.
    "agents": {
        "config",
        "providers",
        "pipeline",
        "rag",
        "jobs",
        "guard",
        "execution",
        "embeddings",
        "routing",
    },
    "execution": {"config", "providers", "jobs", "store", "telemetry"},
}
# Above the table's lower half: each may import anything below it.
HIGH = ["service", "finetune", "faq", "runtime", "interfaces", "ops", "gateway", "cli", "testing"]
# The UI talks to the gateway over HTTP only.
ISOLATED = {"ui"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "nexus" and len(parts) > 1:
                out.add(parts[1])
    return out


def _allowed(package: str) -> set[str] | None:
    if package in LOW:
        return LOW[package]
    if package in ISOLATED:
        return set()
    if package in HIGH:
        below = set(LOW) | set(HIGH[: HIGH.index(package)])
        # The CLI starts and supervises the UI's process.
        return below | ISOLATED if package in ("cli", "testing") else below
    return None


def test_imports_point_down_the_table() -> None:
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        package = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else None
        if package is None:
            continue
        allowed = _allowed(package)
        assert allowed is not None, (
            f"package {package!r} is not in the layering table (tests/test_layering.py)"
        )
        for imported in _imports(path) - {package}:
            if imported not in allowed and imported in (set(LOW) | set(HIGH) | ISOLATED):
                problems.append(f"{rel}: {package} imports {imported}")
    assert not problems, "\n".join(problems)
