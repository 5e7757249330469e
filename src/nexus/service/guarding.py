"""The guard as every door meets it: user input before any model sees it, answers before any client does.

`nexus.guard.ChatGuard` does the checking (every message and content part, all layers for the end
user's text, masking everywhere); this module adds what the service knows: the tenant's overrides
(tenants.guard_policy), the door, and the audit log — every decision is audited for the caller's
tenant with its category, kind, risk, action and door, never the matched text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nexus.guard import ChatGuard, Decision, GuardBlocked, GuardConfig, GuardPolicy
from nexus.guard.qa import mask_leaks
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.service.identity import Caller
from nexus.service.tenants import TenantDirectory
from nexus.store import AccountingQueue


@dataclass(slots=True)
class GuardOutcome:
    request: ChatRequest
    policy: GuardPolicy
    decisions: list[Decision] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return any(d.action == "flag" for d in self.decisions)

    @property
    def categories(self) -> list[str]:
        return sorted({d.category for d in self.decisions if d.action == "flag"})

    @property
    def allowed_models(self) -> list[str] | None:
        """The tenant's model allow-list (guard config / overrides); None = every model."""
        allowed = self.policy.config.allowed_models.get(self.policy.tenant or "")
        return None if allowed is None or "*" in allowed else list(allowed)


class RequestGuard:
    def __init__(
        self, guard: ChatGuard, tenants: TenantDirectory, audit: AccountingQueue | None = None
    ) -> None:
        self.guard = guard
        self.tenants = tenants
        self.audit = audit

    @classmethod
    def from_file(
        cls, path: Path | None, tenants: TenantDirectory, audit: AccountingQueue | None = None
    ) -> RequestGuard:
        return cls(ChatGuard(GuardConfig.from_yaml(path) if path else None), tenants, audit)

    async def policy(self, tenant: str) -> GuardPolicy:
        return self.guard.policy_for(tenant, (await self.tenants.get(tenant)).guard_overrides)

    async def check_request(
        self, caller: Caller, body: ChatRequest, *, routed: bool, audit: bool = True
    ) -> GuardOutcome:
        """Mask, flag or block the request's text; raises GuardBlocked (audited) on a block.

        A routed request names no model yet: the tenant's model allow-list then limits the routing
        (GuardOutcome.allowed_models) instead of refusing the request."""
        policy = await self.policy(caller.tenant)
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        try:
            checked = policy.check_messages(messages, door=caller.door, model=None if routed else body.model)
        except GuardBlocked as exc:
            self.record(caller, exc.decisions, "input")
            raise
        if audit:
            self.record(caller, checked.decisions, "input")
        if checked.masked:
            body = body.model_copy(
                update={"messages": [ChatMessage.model_validate(m) for m in checked.messages]}
            )
        return GuardOutcome(body, policy, list(checked.decisions))

    def record(self, caller: Caller, decisions: Sequence[Decision], direction: str) -> None:
        """Audit what the guard decided on one text or request (nothing when it decided nothing)."""
        if self.audit is None or not decisions:
            return
        actions = {d.action for d in decisions}
        status = next((a for a in ("block", "flag", "mask") if a in actions), "allow")
        self.audit.audit_soon(
            action=f"guard.{direction}",
            tenant_id=caller.tenant,
            actor=caller.principal.subject,
            target=caller.door,
            status=status,
            details={
                "door": caller.door,
                "request_id": caller.request_id,
                "categories": sorted({d.category for d in decisions}),
                "decisions": [d.public() for d in decisions],
            },
        )

    @staticmethod
    def mask(text: str) -> str:
        """Every secret and personal-data leak QA would report, masked (the pipeline's QA hook)."""
        return mask_leaks(text).text
