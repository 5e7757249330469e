"""Lead extraction on the authored suite (tests/faq/lead_suite.py): precision, recall, F1 per field,
offline (local patterns, no model), and the time per message.

    PYTHONPATH=src python bench/bench_leads.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faq.lead_suite import SUITE  # noqa: E402
from tests.faq.test_lead_quality import scores  # noqa: E402

from nexus.faq.leads import extract_lead  # noqa: E402


def main() -> None:
    t0 = time.perf_counter()
    for row in SUITE:
        extract_lead(row[0])
    per_msg_ms = (time.perf_counter() - t0) * 1000 / len(SUITE)
    print(f"{len(SUITE)} messages, {per_msg_ms:.2f} ms per message (offline)")
    print(f"{'field':8} {'n':>3} {'precision':>9} {'recall':>7} {'F1':>6}")
    for field, s in scores().items():
        print(f"{field:8} {int(s['n']):3d} {s['precision']:9.3f} {s['recall']:7.3f} {s['f1']:6.3f}")


if __name__ == "__main__":
    main()
