"""Operations: the heartbeat's checks, alerts, bounded recovery and check history (docs/heartbeat.md)."""

from nexus.ops.alerts import Alert, Alerter, AlertSink, LogSink, TelegramSink, WebhookSink
from nexus.ops.heartbeat import Heartbeat, Report, open_heartbeat
from nexus.ops.history import History
from nexus.ops.jobs import JobsProbe, QueueStats
from nexus.ops.recovery import Recovery, Restartable, SupervisedUI
from nexus.ops.types import Check, CheckResult, State, worst

__all__ = [
    "Alert",
    "AlertSink",
    "Alerter",
    "Check",
    "CheckResult",
    "Heartbeat",
    "History",
    "JobsProbe",
    "LogSink",
    "QueueStats",
    "Recovery",
    "Report",
    "Restartable",
    "State",
    "SupervisedUI",
    "TelegramSink",
    "WebhookSink",
    "open_heartbeat",
    "worst",
]
