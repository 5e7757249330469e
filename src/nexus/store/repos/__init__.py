"""Repositories, one per aggregate; all of them filter by tenant through Repository.scoped()."""

from nexus.store.repos.audit import Audit
from nexus.store.repos.base import Repository
from nexus.store.repos.instances import Instances, Leases
from nexus.store.repos.jobs import Jobs
from nexus.store.repos.sessions import Messages, Sessions
from nexus.store.repos.tenants import ApiKeys, Budgets, Tenants
from nexus.store.repos.work_orders import ModelCalls, RunEvents, WorkOrders

__all__ = [
    "ApiKeys",
    "Audit",
    "Budgets",
    "Instances",
    "Jobs",
    "Leases",
    "Messages",
    "ModelCalls",
    "Repository",
    "RunEvents",
    "Sessions",
    "Tenants",
    "WorkOrders",
]
