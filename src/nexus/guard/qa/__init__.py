"""The QA spec runner: checks on a text (library) or on a command's output (CLI `nexus qa run`)."""

from nexus.guard.qa.checks import CHECKS, extract_code_blocks, run_checks
from nexus.guard.qa.leaks import mask_leaks
from nexus.guard.qa.report import CheckResult, QAReport
from nexus.guard.qa.runner import run_spec
from nexus.guard.qa.sandbox import SandboxResult, run_python
from nexus.guard.qa.spec import InvalidSpec, QASpec, load_spec, parse_spec

__all__ = [
    "CHECKS",
    "CheckResult",
    "InvalidSpec",
    "QAReport",
    "QASpec",
    "SandboxResult",
    "extract_code_blocks",
    "load_spec",
    "mask_leaks",
    "parse_spec",
    "run_checks",
    "run_python",
    "run_spec",
]
