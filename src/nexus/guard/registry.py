"""Checks by name: a factory per check takes the guard config. Add a check by adding one entry."""

from __future__ import annotations

from collections.abc import Callable

from nexus.guard.checks.injection import InjectionCheck
from nexus.guard.checks.pii import PiiCheck
from nexus.guard.checks.policy import PolicyCheck
from nexus.guard.checks.secrets import SecretsCheck
from nexus.guard.config import GuardConfig
from nexus.guard.types import Check

CheckFactory = Callable[[GuardConfig], Check]

CHECKS: dict[str, CheckFactory] = {
    "injection": lambda cfg: InjectionCheck(cfg.injection),
    "pii": lambda cfg: PiiCheck(cfg.pii_kinds),
    "secrets": lambda cfg: SecretsCheck(),
    "policy": PolicyCheck,
}


class UnknownCheck(KeyError):
    """A configured check name that is not registered."""


def build_check(name: str, config: GuardConfig) -> Check:
    try:
        factory = CHECKS[name]
    except KeyError:
        raise UnknownCheck(f"unknown guard check {name!r}; known: {sorted(CHECKS)}") from None
    return factory(config)
