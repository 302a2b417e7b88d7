"""``duet admin qa-report [--days N] [--json]``: the measured precision, from a terminal.

The same report as the dashboard and ``/metrics`` (:mod:`.precision`), read from the
database the settings name: a rich table, or JSON with ``--json``.
"""

from __future__ import annotations

import json
from io import StringIO

from rich.console import Console
from rich.table import Table

from duet.clock import SYSTEM_CLOCK
from signaling.config.settings import Settings
from signaling.console.precision import PrecisionReport, Stratum, precision_report


async def load_report(settings: Settings, days: float) -> PrecisionReport:
    from signaling.console.console import sampler_of
    from signaling.storage.audit import AuditLog
    from signaling.storage.db import Database
    from signaling.storage.qa import QaStore

    db = Database(settings.database_url)
    try:
        await db.migrate()
        ms = settings.moderation
        store = QaStore(db, AuditLog(db), sampler_of(ms.qa_sample_rate, ms))
        return await precision_report(store, SYSTEM_CLOCK.wall(), days)
    finally:
        await db.close()


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _row(stratum: Stratum) -> list[str]:
    interval = stratum.interval
    scores = sorted(stratum.wrong_scores)
    spread = (
        "–"
        if not scores
        else f"{scores[0]:.2f} / {scores[len(scores) // 2]:.2f} / {scores[-1]:.2f}"
    )
    return [
        stratum.kind,
        stratum.source,
        stratum.classifier,
        stratum.reason,
        str(stratum.actions),
        str(stratum.sampled),
        str(stratum.decided),
        str(stratum.wrong),
        str(stratum.wrong_via_appeal),
        _share(stratum.precision),
        "–" if interval is None else f"{interval[0]:.1%} – {interval[1]:.1%}",
        spread,
    ]


def render_table(report: PrecisionReport, width: int = 160) -> str:
    table = Table(title=f"Measured precision of automatic actions, last {report.days:g} days")
    for column in (
        "kind",
        "source",
        "classifier",
        "reason",
        "actions",
        "sampled",
        "decided",
        "wrong",
        "by appeal",
        "precision",
        "95% CI (Wilson)",
        "wrong scores min/med/max",
    ):
        left = column in ("kind", "source", "classifier", "reason")
        table.add_column(column, justify="left" if left else "right")
    for stratum in report.strata:
        table.add_row(*_row(stratum))
    table.add_section()
    table.add_row(*_row(report.total), style="bold")
    out = StringIO()
    Console(file=out, width=width, force_terminal=False, color_system=None).print(table)
    return out.getvalue()


def render(report: PrecisionReport, as_json: bool) -> str:
    if as_json:
        return json.dumps(report.as_dict(), indent=2)
    return render_table(report)
