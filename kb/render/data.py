"""Data: the reports of `kb index`, `kb export` and `kb export-run` (the RO-Crate)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kb.render.base import safe, stdout

if TYPE_CHECKING:
    from kb.data.export import ExportReport
    from kb.data.index import IndexReport
    from kb.data.rocrate import CrateReport


def index_report(report: IndexReport) -> None:
    what = "updated" if report.rebuilt else "already up to date"
    stdout.print(safe(f"index {what}: {report.url}", "bold"))
    stdout.print(safe(", ".join(f"{n} {name}" for name, n in report.counts.items())))


def index_summary(report: IndexReport) -> dict[str, Any]:
    return {"url": report.url, "rebuilt": report.rebuilt, "counts": report.counts}


def export_report(report: ExportReport) -> None:
    for path in report.files:
        stdout.print(safe(f"wrote {path}"))
    stdout.print(safe(", ".join(f"{n} {name}" for name, n in report.rows.items()), "dim"))


def crate_report(report: CrateReport) -> None:
    record = report.record
    stdout.print(
        safe(
            f"wrote the RO-Crate of {record.experiment} [{record.scale}] run {record.id} to {report.path}",
            "bold",
        ),
        soft_wrap=True,
    )
    for name in report.files:
        stdout.print(safe(f"  {name}"))
    stdout.print(safe(f"{len(report.files)} files, {report.entities} entities", "dim"))


def crate_summary(report: CrateReport) -> dict[str, Any]:
    record = report.record
    return {
        "path": str(report.path),
        "run": record.id,
        "experiment": record.experiment,
        "scale": record.scale,
        "files": report.files,
        "entities": report.entities,
    }
