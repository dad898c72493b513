"""Exports for analysis in other tools: CSV, Parquet or JSON, one file per table (pandas)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kb.load import KnowledgeBase
from kb.records import read_records
from kb.tables import TABLES, flatten

FORMATS = ("csv", "parquet", "json")


@dataclass(frozen=True)
class ExportReport:
    files: list[Path]
    rows: dict[str, int]


def export(kb: KnowledgeBase, output: Path, fmt: str) -> ExportReport:
    import pandas as pd

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    records, _ = read_records(kb.root)
    rows = flatten(kb, records)
    output.mkdir(parents=True, exist_ok=True)
    files = []
    for name in TABLES:
        frame = pd.DataFrame.from_records(rows[name])
        path = output / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_json(path, orient="records", indent=2, force_ascii=False)
        files.append(path)
    return ExportReport(files, {name: len(rows[name]) for name in TABLES})
