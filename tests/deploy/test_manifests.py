"""The deployment files, checked offline: Kubernetes manifests against the Kubernetes JSON schemas
(kubernetes-validate, strict: unknown fields fail), the compose file parsed and cross-checked, and every
command line they run parsed by the real CLI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer
import yaml

from nexus.cli.db import db_app
from nexus.cli.scheduler import scheduler_cmd
from nexus.cli.serve import serve_cmd
from nexus.cli.ui import ui_cmd
from nexus.cli.worker import worker_cmd
from nexus.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
DOCS = ROOT / "docs" / "deploy.md"
K8S_VERSIONS = ["1.30.0", "1.37.0"]


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
RESOURCES = [(p.name, d) for p in MANIFESTS for d in _docs(p)]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in RESOURCES if d["kind"] == kind}


def _cli_accepts(args: list[str]) -> None:
    """Parse `nexus <args>` with the real command's options (nothing runs)."""
    commands: dict[str, Any] = {
        name: typer.main.get_command(_single(fn))
        for name, fn in {
            "serve": serve_cmd,
            "worker": worker_cmd,
            "scheduler": scheduler_cmd,
            "ui": ui_cmd,
        }.items()
    }
    commands["db"] = typer.main.get_command(db_app)
    name, *rest = args
    assert name in commands, f"unknown nexus command {name!r}"
    command = commands[name]
    if hasattr(command, "resolve_command"):  # a group (`db upgrade`): resolve the subcommand too
        sub_name, sub, rest = command.resolve_command(
            command.make_context("nexus db", list(rest)), list(rest)
        )
        assert sub is not None, f"unknown subcommand {sub_name!r}"
        command = sub
    command.make_context(f"nexus {name}", list(rest))


def _single(fn: Any) -> typer.Typer:
    app = typer.Typer()
    app.command()(fn)
    return app


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(("filename", "resource"), RESOURCES, ids=[f"{f}:{d['kind']}" for f, d in RESOURCES])
def test_every_manifest_validates_against_the_kubernetes_schema(
    filename: str, resource: dict[str, Any], version: str
) -> None:
    kubernetes_validate.validate(resource, version, strict=True)


def test_the_schema_check_catches_a_broken_manifest() -> None:
    broken = yaml.safe_load((K8S / "worker.yaml").read_text())
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = [9000]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


def test_the_kustomization_applies_every_manifest_but_the_secret_template() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in MANIFESTS if p.name != "secret.example.yaml")


@pytest.mark.parametrize("name", ["nexus-gateway", "nexus-worker", "nexus-scheduler", "nexus-ui"])
def test_each_process_has_probes_resources_and_a_real_command(name: str) -> None:
    deployment = _by_kind("Deployment")[name]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"]
    res = container["resources"]
    assert set(res["requests"]) == set(res["limits"]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    _cli_accepts(container["args"])
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    if name != "nexus-ui":  # Streamlit answers health at /_stcore/health only
        assert (
            container["livenessProbe"]["httpGet"]["path"],
            container["readinessProbe"]["httpGet"]["path"],
        ) == (
            "/health",
            "/ready",
        )


def test_the_gateway_scales_and_survives_disruptions() -> None:
    gateway = _by_kind("Deployment")["nexus-gateway"]
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    hpa = _by_kind("HorizontalPodAutoscaler")["nexus-gateway"]
    assert (hpa["spec"]["scaleTargetRef"]["kind"], hpa["spec"]["scaleTargetRef"]["name"]) == (
        "Deployment",
        "nexus-gateway",
    )
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    pdb = _by_kind("PodDisruptionBudget")["nexus-gateway"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]  # a drain can always proceed


def test_services_and_ingress_point_at_real_pods_and_ports() -> None:
    deployments = _by_kind("Deployment")
    services = _by_kind("Service")
    for svc in services.values():
        pods = [
            d
            for d in deployments.values()
            if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert pods, f"service {svc['metadata']['name']} selects no deployment"
        ports = {p["name"] for p in pods[0]["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= ports
    [ingress] = _by_kind("Ingress").values()
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["port"]["name"] in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}


def test_the_migrations_job_runs_the_upgrade() -> None:
    job = _by_kind("Job")["nexus-migrate"]
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["db", "upgrade"]
    _cli_accepts(container["args"])


def _setting_names() -> set[str]:
    return {f"NEXUS_{name.upper()}" for name in Settings.model_fields}


def test_configuration_keys_are_real_settings() -> None:
    config = _by_kind("ConfigMap")["nexus-config"]["data"]
    secret = _by_kind("Secret")["nexus-secrets"]["stringData"]
    known = _setting_names() | {"NEXUS_CACHE_DIR", "HF_HUB_OFFLINE"}  # read outside Settings
    assert set(config) - known == set()
    assert set(secret) - known == set()


# --- docker compose ---------------------------------------------------------------------------------------
def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _documented_services() -> set[str]:
    """Service names docs/deploy.md lists in its compose table (first column, in backticks)."""
    text = DOCS.read_text()
    section = text.split("## Docker Compose", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.M))


def test_the_compose_file_parses_and_has_every_documented_service() -> None:
    services = _compose()["services"]
    documented = _documented_services()
    assert {"postgres", "redis", "gateway-1", "gateway-2", "worker", "scheduler", "ui"} <= documented
    assert documented == set(services)


def test_compose_dependencies_commands_and_settings_are_consistent() -> None:
    compose = _compose()
    services = compose["services"]
    known = _setting_names()
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        if svc.get("image", "").startswith("${NEXUS_IMAGE"):
            _cli_accepts(svc["command"])
            assert set(k for k in svc.get("environment", {}) if k.startswith("NEXUS_")) <= known
        for secret in svc.get("secrets", []):
            assert secret in compose["secrets"]
    # Both gateways are the same service twice; the load balancer sends to both.
    assert services["gateway-1"]["command"] == services["gateway-2"]["command"]
    nginx = (COMPOSE.parent / "nginx.conf").read_text()
    assert "server gateway-1:8000" in nginx and "server gateway-2:8000" in nginx
    assert services["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
