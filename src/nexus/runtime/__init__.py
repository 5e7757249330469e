"""`build(settings)`: every component of a Nexus process, assembled once, with one lifecycle.

The gateway, the CLI and worker processes build the same `Services`. It is frozen and typed: a
feature that is off is an explicit no-op inside its component, never a missing attribute.

    async with build(settings) as services:
        turn = await services.chat.turn(caller, request)

Start-up order (taken down in reverse on exit): providers → store and the accounting queue →
budgets, ledger, admission, auth, guard → router (in a thread: it loads the embedder) → pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from nexus.config.settings import Settings
from nexus.embeddings.base import Embedder
from nexus.faq.documents import FaqService
from nexus.finetune import FineTuneService
from nexus.finetune import jobs as _finetune_jobs  # noqa: F401  (registers the fine-tuning job kinds)
from nexus.finetune.registry import owner_of
from nexus.jobs import JobEngine
from nexus.jobs.instance import expire_dead_local_instances
from nexus.pipeline.events import Event, JudgedData, RoutedData
from nexus.pipeline.ports import ClassifierLike
from nexus.pipeline.runner import Pipeline, open_pipeline
from nexus.providers.audio import AudioHub, LocalFactory
from nexus.providers.hub import ModelHub
from nexus.routing.router import Router
from nexus.runtime.broadcast import BUDGETS, CATALOGUE, Broadcast, catalogue_handler
from nexus.service.accounting import Ledger
from nexus.service.admission import Admission
from nexus.service.agents import AgentsService, open_agents_service
from nexus.service.auth import Authenticator, StoreKeys
from nexus.service.budget_counters import SharedCounters
from nexus.service.budgets import BudgetManager
from nexus.service.cache import SemanticCache
from nexus.service.chat import ChatService
from nexus.service.documents import DocumentsService, open_documents
from nexus.service.feedback import RouterTuning
from nexus.service.guarding import RequestGuard
from nexus.service.ratelimit import build_limiter
from nexus.service.runs import StoreRuns
from nexus.service.sessions import SessionRegistry
from nexus.service.tenants import TenantDirectory
from nexus.service.voice import VoiceService
from nexus.service.work_orders import WorkOrders
from nexus.store import AccountingQueue, Store, TenantScope, open_store
from nexus.telemetry import Metrics, get_tracer, record_call_span

log = logging.getLogger("nexus.runtime")


class RouterHolder:
    """The current router; rebuilt (reusing the loaded embedder and classifier) on catalogue reload."""

    def __init__(self, router: Router) -> None:
        self.current = router

    def __call__(self) -> Router:
        return self.current


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    metrics: Metrics
    hub: ModelHub
    store: Store
    accounting: AccountingQueue
    budgets: BudgetManager
    ledger: Ledger
    admission: Admission
    auth: Authenticator
    guard: RequestGuard
    routers: RouterHolder
    runs: StoreRuns
    pipeline: Pipeline
    sessions: SessionRegistry
    tenants: TenantDirectory
    chat: ChatService
    work_orders: WorkOrders
    # This process's job engine; None in a worker process (it runs its own).
    jobs: JobEngine | None
    # Changes every process must apply (catalogue reloads, budget rules): Redis pub/sub, or local only.
    broadcast: Broadcast
    audio: AudioHub
    voice: VoiceService
    # Documents: the OpenAI Files/Vector Stores API and /rag-chat (nexus.rag underneath).
    documents: DocumentsService
    # Tool-calling agents (nexus.agents) behind the service layer.
    agents: AgentsService
    # The router on live traffic: feedback, retrain/promote, A/B arms; the semantic cache (opt-in).
    tuning: RouterTuning
    cache: SemanticCache
    fine_tunes: FineTuneService
    faqs: FaqService

    @property
    def turns(self) -> WorkOrders:
        """What a `nexus worker` runs queued work orders with (nexus.jobs' TurnRunner)."""
        return self.work_orders

    @property
    def router(self) -> Router:
        return self.routers.current

    @property
    def embedder(self) -> Embedder | None:
        return self.routers.current.embedder


@dataclass(frozen=True, slots=True)
class JobServices:
    """What job handlers get as `ctx.services` in a gateway process (a worker gets `Services`)."""

    turns: WorkOrders
    fine_tunes: FineTuneService
    faqs: FaqService


def _build_router(
    hub: ModelHub,
    settings: Settings,
    previous: Router | None,
    embedder: Embedder | None,
    classifier: ClassifierLike | None,
) -> Router:
    router = Router.from_catalogue(
        hub.catalogue,
        settings,
        embedder=previous.embedder if previous else embedder,
        classifier=previous.classifier if previous else classifier,
        # Audio-only entries do not chat; a tenant's own models (fine-tuned) are not routed for everyone.
        available={m for m in hub.available_ids() if hub.entry(m).chat and owner_of(hub.entry(m)) is None},
    )
    if previous is not None:
        router.adopt_live_state(previous)  # live latencies and failure rates survive a reload
    return router


def _event_metrics(m: Metrics) -> Callable[[Event], None]:
    """Pipeline decisions as Prometheus series: routing by model and rule, judge scores, escalations."""

    def observe(ev: Event) -> None:
        d = ev.data
        if isinstance(d, RoutedData):
            if d.subtasks:
                for sub in d.subtasks:
                    m.observe_routing(sub.model, str(sub.explanation.rule if sub.explanation else None))
            else:
                m.observe_routing(str(d.model), str(d.rule))
        elif isinstance(d, JudgedData) and d.score is not None:
            m.observe_judge(float(d.score))
        elif ev.type == "escalated":
            m.observe_escalation()

    return observe


@asynccontextmanager
async def build(
    settings: Settings,
    *,
    hub: ModelHub | None = None,
    metrics: Metrics | None = None,
    embedder: Embedder | None = None,
    classifier: ClassifierLike | None = None,
    jobs: bool = True,
) -> AsyncIterator[Services]:
    """Assemble a process's services; `hub`, `embedder` and `classifier` may be given (tests, embedders).

    `jobs`: start this process's job engine (a gateway: it accepts queued work and, without Redis, runs
    it in-process). A `nexus worker` builds the services without one and runs its own."""
    m = metrics or Metrics()
    async with AsyncExitStack() as stack:
        the_hub = hub or ModelHub(settings)
        if the_hub._state is None:
            the_hub.load()
        stack.push_async_callback(the_hub.aclose)
        if settings.metrics:
            the_hub.meter.subscribe(m.observe_call)
            the_hub.on_fallback.append(lambda f, t, e: m.observe_fallback(f, t))
        the_hub.meter.subscribe(record_call_span)

        store = await open_store(settings)
        stack.push_async_callback(store.close)
        await expire_dead_local_instances(store)
        stale = await store.work_orders(TenantScope.system()).interrupt_dead()
        if stale:
            log.warning(
                "work orders left running by a dead process marked incomplete", extra={"count": len(stale)}
            )
        queue = store.accounting_queue(
            maxsize=settings.accounting_queue_max, flush_s=settings.accounting_flush_s
        )
        stack.push_async_callback(queue.close)
        m.bind_queue_depth(lambda: queue.depth)

        budgets = BudgetManager(store, queue=queue, on_soft=lambda *_: m.observe_budget_soft_limit())
        if settings.redis_url:  # one budget across every gateway and worker
            budgets.shared = SharedCounters(settings.redis_url, settings.jobs_stream_prefix)
        await budgets.start()
        stack.push_async_callback(budgets.close)
        ledger = Ledger(queue, budgets, store, enabled=settings.accounting)
        if settings.accounting:
            the_hub.meter.subscribe(ledger.on_call)

        auth = Authenticator(settings, StoreKeys(store))
        await auth.start()
        limiter = build_limiter(settings, on_fallback=m.observe_redis_fallback)
        tenants = TenantDirectory(store)
        admission = Admission(limiter, settings, tenants, budgets, on_reject=m.observe_rate_limited)
        guard = RequestGuard.from_file(settings.guard_config, tenants, audit=queue)

        router = await asyncio.to_thread(_build_router, the_hub, settings, None, embedder, classifier)
        routers = RouterHolder(router)
        # Live latencies and failures of real calls feed the routing policy.
        the_hub.meter.subscribe(lambda record: routers.current.observe_call(record))
        the_hub.on_reload(
            lambda _: setattr(
                routers, "current", _build_router(the_hub, settings, routers.current, None, None)
            )
        )

        tuning = RouterTuning(store, routers, limiter, queue=queue)
        await tuning.load_promoted()  # tenants' promoted feedback models serve again
        stack.push_async_callback(tuning.drain)
        cache = SemanticCache(store, tuning, lambda: routers.current.embedder)

        runs = StoreRuns(store, queue, on_event=_event_metrics(m) if settings.metrics else None)
        pipeline, close_pipeline = await open_pipeline(
            the_hub, routers, settings, sink=runs, classifier=classifier, mask=guard.mask, tracer=get_tracer
        )
        pipeline.sinks.append(ledger.sink)
        stack.push_async_callback(runs.drain)
        stack.push_async_callback(close_pipeline)
        await runs.close_interrupted([o for o in stale if o.route == "pipeline"])

        broadcast = Broadcast.for_settings(settings)
        broadcast.on(CATALOGUE, catalogue_handler(the_hub))
        broadcast.on(BUDGETS, lambda _: budgets.reload_rules())
        await broadcast.start()
        stack.push_async_callback(broadcast.close)

        sessions = SessionRegistry(store, queue)
        chat = ChatService(
            settings=settings,
            hub=the_hub,
            pipeline=pipeline,
            admission=admission,
            guard=guard,
            ledger=ledger,
            sessions=sessions,
            traces=runs,
            tuning=tuning,
            cache=cache,
        )
        work_orders = WorkOrders(chat, store)
        documents = await open_documents(settings, store, embedder, admission, chat, resume=False)
        stack.push_async_callback(documents.close)
        fine_tunes = FineTuneService(store, the_hub, settings, chat)
        await fine_tunes.catalogue.load(store)
        faqs = FaqService(store, chat, fine_tunes.catalogue)
        engine: JobEngine | None = None
        if jobs:
            job_services = JobServices(turns=work_orders, fine_tunes=fine_tunes, faqs=faqs)
            engine = await JobEngine.start(settings, store, role="gateway", services=job_services)
            stack.push_async_callback(engine.close)
            work_orders.queue = engine.queue
            fine_tunes.queue = engine.queue
            faqs.queue = engine.queue
            engine.on_recovered.append(
                lambda orders: runs.close_interrupted([o for o in orders if o.route == "pipeline"])
            )
            ledger.instance_id = engine.instance.id
            await documents.use_job_engine(engine.queue, in_process=not settings.redis_url)
        audio = AudioHub(the_hub, local=_offline_transcriber())
        voice = VoiceService(
            settings=settings, audio=audio, admission=admission, guard=guard, ledger=ledger, chat=chat
        )
        agents = await open_agents_service(
            settings,
            the_hub,
            store,
            checkpointer=pipeline.graph.checkpointer,
            admission=admission,
            guard=guard,
            ledger=ledger,
            sessions=sessions,
        )
        stack.push_async_callback(agents.aclose)
        yield Services(
            settings=settings,
            metrics=m,
            hub=the_hub,
            store=store,
            accounting=queue,
            budgets=budgets,
            ledger=ledger,
            admission=admission,
            auth=auth,
            guard=guard,
            routers=routers,
            runs=runs,
            pipeline=pipeline,
            sessions=sessions,
            tenants=tenants,
            chat=chat,
            work_orders=work_orders,
            jobs=engine,
            broadcast=broadcast,
            audio=audio,
            voice=voice,
            documents=documents,
            agents=agents,
            tuning=tuning,
            cache=cache,
            fine_tunes=fine_tunes,
            faqs=faqs,
        )


@asynccontextmanager
async def worker_services(settings: Settings) -> AsyncIterator[Services]:
    """The services a `nexus worker` process runs queued work orders with (its own job engine runs them)."""
    async with build(settings, jobs=False) as services:
        yield services


def _offline_transcriber() -> LocalFactory | None:
    """The offline transcriber when its packages are installed (pocketsphinx, webrtcvad-wheels)."""
    try:
        import pocketsphinx  # noqa: F401

        from nexus.voice.sphinx import create
    except ImportError:
        return None
    return create
