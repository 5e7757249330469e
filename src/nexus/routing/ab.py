"""A/B testing of routing policies: per tenant, named arms with weights; a session's arm is a stable hash
of (tenant, session), so a conversation stays on one policy and any process assigns it the same way.

An arm changes how the router trades quality for cost (`cost_lambda`) and whether the tenant's feedback
model is used (`feedback`). The decision under an arm carries the arm's name and its propensity (the
probability the assignment had of choosing it), which off-policy estimates need.

The arm reaches the router through `route_overrides`, a context variable the service sets for the run's
task: the pipeline between them passes it on without knowing it.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, field_validator

from nexus.jsontypes import JsonBool, JsonFloat


class Arm(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    weight: JsonFloat = Field(ge=0.0)
    cost_lambda: JsonFloat | None = Field(default=None, ge=0.0)
    feedback: JsonBool = True  # use the tenant's promoted feedback model


class AbPolicy(BaseModel):
    arms: list[Arm] = Field(default_factory=list)

    @field_validator("arms")
    @classmethod
    def _valid(cls, arms: list[Arm]) -> list[Arm]:
        if arms and sum(a.weight for a in arms) <= 0:
            raise ValueError("the arms' weights must add up to more than 0")
        if len({a.name for a in arms}) != len(arms):
            raise ValueError("arm names must be unique")
        return arms

    def assign(self, tenant: str, session_id: str) -> tuple[Arm, float] | None:
        """The session's arm and its propensity; None when the tenant runs no test."""
        return assign(self.arms, tenant, session_id)


def unit_hash(tenant: str, session_id: str) -> float:
    """A uniform number in [0, 1) from (tenant, session): stable across processes and restarts."""
    digest = hashlib.sha256(f"{tenant}\x00{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign(arms: Sequence[Arm], tenant: str, session_id: str) -> tuple[Arm, float] | None:
    live = [a for a in arms if a.weight > 0]
    if not live:
        return None
    total = sum(a.weight for a in live)
    u = unit_hash(tenant, session_id) * total
    acc = 0.0
    for arm in live:
        acc += arm.weight
        if u < acc:
            return arm, arm.weight / total
    return live[-1], live[-1].weight / total


class RouteOverrides(BaseModel):
    """What the service decided for a run's routing: its A/B arm (and the arm's settings)."""

    arm: str | None = None
    propensity: float | None = None
    cost_lambda: float | None = None
    feedback: bool = True

    @classmethod
    def of(cls, assigned: tuple[Arm, float] | None) -> RouteOverrides | None:
        if assigned is None:
            return None
        arm, p = assigned
        return cls(arm=arm.name, propensity=round(p, 6), cost_lambda=arm.cost_lambda, feedback=arm.feedback)

    def log(self) -> dict[str, Any]:
        return {"policy_arm": self.arm, "propensity": self.propensity}


route_overrides: contextvars.ContextVar[RouteOverrides | None] = contextvars.ContextVar(
    "nexus_route_overrides", default=None
)
