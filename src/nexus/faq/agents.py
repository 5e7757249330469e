"""Smart agents: a tenant's customer-facing agent answers from its FAQ pairs (the pairs it was given are
its citations) and gathers a lead over the conversation.

    chat(caller, agent_id, session_id, message)
      → the agent's FAQs ranked against the message (lexical overlap); the best ones go in the prompt,
        numbered by id, with the agent's system prompt and the conversation so far
      → one explicit-model turn through ChatService (limits, budget, guard, accounting)
      → citations: the FAQ ids the answer cites, else the ones it was given
      → the lead: this message's findings merged into the conversation's (never erasing a field)
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nexus.faq.leads import LeadData, extract_lead
from nexus.finetune.registry import TenantCatalogue
from nexus.pipeline.events import FinalData
from nexus.providers.hub import UnknownModel
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.service.chat import ChatService, TurnRequest
from nexus.service.errors import ServiceError, invalid
from nexus.service.identity import Caller
from nexus.store import Store, TenantScope
from nexus.store.models_faq import FaqPair, Lead, SmartAgent
from nexus.store.repos.faq import FaqPairs, Leads, SmartAgents

TOP_K = 3
KEEP_TURNS = 10  # messages of history sent with each turn
_TOKEN = re.compile(r"\w+", re.UNICODE)
STOP = frozenset(
    "a an the is are was were be do does did i you we it my your our to of in on for and or how what "
    "can could should would will with me this that there when where which who why".split()
)


def _terms(text: str) -> set[str]:
    return {t for t in _TOKEN.findall(text.casefold()) if t not in STOP and len(t) > 1}


def rank(pairs: Sequence[FaqPair], message: str, k: int = TOP_K) -> list[FaqPair]:
    """The pairs sharing the most terms with the message (the question counts double); none when no term
    is shared."""
    asked = _terms(message)
    scored = []
    for p in pairs:
        q, a = _terms(p.question), _terms(p.answer)
        score = (2 * len(asked & q) + len(asked & a)) / (1 + len(q | a)) ** 0.5
        if score > 0:
            scored.append((score, p.id, p))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [p for _, _, p in scored[:k]]


@dataclass(frozen=True, slots=True)
class AgentSpec:
    name: str
    system_prompt: str = ""
    model: str | None = None
    faqs: tuple[tuple[str, str], ...] = ()


@dataclass
class Reply:
    answer: str
    citations: list[str]
    lead: dict[str, str | None]
    session_id: str
    model: str
    work_order_id: str
    extra: dict[str, Any] = field(default_factory=dict)


def _scope(tenant: str) -> TenantScope:
    return TenantScope(tenant, False)


class SmartAgentService:
    def __init__(self, store: Store, chat: ChatService, models: TenantCatalogue, region: str = "US") -> None:
        self.store = store
        self.chat = chat
        self.models = models
        self.region = region

    def agents(self, tenant: str) -> SmartAgents:
        return SmartAgents(self.store.sessions, _scope(tenant))

    def pairs(self, tenant: str) -> FaqPairs:
        return FaqPairs(self.store.sessions, _scope(tenant))

    def leads(self, tenant: str) -> Leads:
        return Leads(self.store.sessions, _scope(tenant))

    async def create(self, tenant: str, spec: AgentSpec) -> tuple[SmartAgent, list[FaqPair]]:
        model = spec.model or self.chat.hub.catalogue.roles.get("default") or self.chat.hub.catalogue.ids[0]
        if not self.models.visible(tenant, model):
            raise UnknownModel(model, [])
        if any(a.name == spec.name for a in await self.agents(tenant).list()):
            raise ServiceError(409, f"An agent named {spec.name!r} exists.", code="agent_exists")
        agent_id = "sa_" + secrets.token_hex(8)
        agent = SmartAgent(
            id=agent_id, tenant_id=tenant, name=spec.name, system_prompt=spec.system_prompt, model=model
        )
        pairs = [
            FaqPair(
                id=f"faq_{secrets.token_hex(6)}",
                tenant_id=tenant,
                agent_id=agent_id,
                question=q.strip(),
                answer=a.strip(),
                source=f"agent:{spec.name}#{i + 1}",
            )
            for i, (q, a) in enumerate(spec.faqs)
        ]
        async with self.store.sessions() as s, s.begin():
            s.add(agent)
            s.add_all(pairs)
        return agent, pairs

    async def chat_turn(self, caller: Caller, agent_id: str, session_id: str, message: str) -> Reply:
        tenant = caller.tenant
        agent = await self.agents(tenant).get(agent_id)  # another tenant's: 404
        faqs = await self.pairs(tenant).of_agent(agent_id)
        leads = self.leads(tenant)
        convo = await leads.conversation(agent_id, session_id)
        history = list(convo.history) if convo else []
        found = rank(faqs, message)
        chat = ChatRequest(
            model=agent.model,
            messages=[
                ChatMessage(role="system", content=_system(agent, found)),
                *(ChatMessage(role=m["role"], content=m["content"]) for m in history[-KEEP_TURNS:]),
                ChatMessage(role="user", content=message),
            ],
        )
        turn = await self.chat.turn(caller, TurnRequest(chat=chat))  # refusals raise here
        final = await turn.result()
        if not isinstance(final, FinalData):
            raise invalid("The model asked a question instead of answering.", code="no_answer")
        answer = final.answer
        cited = [p.id for p in found if p.id in answer]
        citations = cited or [p.id for p in found]
        # The guard masked what went upstream; the lead is read from what the customer wrote.
        lead = (_lead_of(convo) if convo else LeadData()).merge(extract_lead(message, self.region))
        history += [{"role": "user", "content": message}, {"role": "assistant", "content": answer}]
        await self._save(leads, convo, agent_id, session_id, lead, history[-2 * KEEP_TURNS :])
        return Reply(
            answer, citations, lead.as_dict(), session_id, final.model or agent.model, turn.work_order_id
        )

    async def _save(
        self,
        leads: Leads,
        convo: Lead | None,
        agent_id: str,
        session_id: str,
        lead: LeadData,
        history: list[dict[str, str]],
    ) -> None:
        values: dict[str, Any] = {**lead.as_dict(), "history": history}
        if convo is None:
            await leads.add(
                id="ld_" + secrets.token_hex(8),
                agent_id=agent_id,
                session_id=session_id,
                messages=len(history) // 2,
                **values,
            )
        else:
            await leads.change(convo.id, messages=convo.messages + 1, **values)


def _lead_of(row: Lead) -> LeadData:
    return LeadData(name=row.name, email=row.email, phone=row.phone, company=row.company, intent=row.intent)


def _system(agent: SmartAgent, found: list[FaqPair]) -> str:
    parts = [agent.system_prompt.strip() or f"You are {agent.name}, a helpful customer assistant."]
    if found:
        parts.append(
            "Answer from these FAQs when they cover the question, and cite the ids you used in brackets, "
            "e.g. [faq_123]. If they do not cover it, say so.\n"
            + "\n".join(f"[{p.id}] Q: {p.question}\nA: {p.answer}" for p in found)
        )
    else:
        parts.append("No FAQ covers this message: answer briefly, and offer to put the customer in touch.")
    return "\n\n".join(parts)
