"""The SQL index: a derived, disposable copy of the files, for queries and dashboards.

YAML and JSON in git are the source of truth; the index can be deleted and rebuilt at
any time (`kb index`). It refreshes itself when the files change: a fingerprint of every
input file's path, size and modification time is stored with it. SQLite in `.kb/` by
default; `KB_DATABASE_URL` selects another database (PostgreSQL works through the same
models).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert, select, text
from sqlmodel import Field, SQLModel, col, create_engine

from kb.load import KnowledgeBase
from kb.records import read_records
from kb.tables import Rows, flatten

DEFAULT_DATABASE = ".kb/index.sqlite"
ENV_URL = "KB_DATABASE_URL"


class ClaimTable(SQLModel, table=True):
    __tablename__ = "claims"
    id: str = Field(primary_key=True)
    kind: str
    topic: str = Field(index=True)
    title: str
    statement: str
    summary: str
    explains: str | None = Field(default=None, index=True)
    refines: str | None = None
    tags: str
    status: str | None = Field(default=None, index=True)
    certainty: str | None = None
    basis: str | None = None
    reason: str | None = None
    file: str
    created: str
    updated: str


class SourceTable(SQLModel, table=True):
    __tablename__ = "sources"
    claim_id: str = Field(primary_key=True)
    position: int = Field(primary_key=True)
    citekey: str = Field(index=True)
    stance: str
    locator: str
    note: str | None = None
    quote: str | None = None


class ReferenceTable(SQLModel, table=True):
    __tablename__ = "references"
    key: str = Field(primary_key=True)
    entry_type: str
    title: str
    authors: str
    year: str
    doi: str | None = None
    eprint: str | None = None
    url: str | None = None


class PredictionTable(SQLModel, table=True):
    __tablename__ = "predictions"
    claim_id: str = Field(primary_key=True)
    prediction_id: str = Field(primary_key=True)
    statement: str
    experiment: str | None = Field(default=None, index=True)
    metric: str | None = None
    expect: str | None = None
    open: bool
    verdict: str
    scale: str | None = None
    estimate: float | None = None
    interval_low: float | None = None
    interval_high: float | None = None
    level: float | None = None
    p_adjusted: float | None = None
    n: int
    confirmatory: bool | None = None


class ExperimentTable(SQLModel, table=True):
    __tablename__ = "experiments"
    name: str = Field(primary_key=True)
    title: str
    script: str
    scales: str
    metrics: str


class RunTable(SQLModel, table=True):
    __tablename__ = "runs"
    id: str = Field(primary_key=True)
    experiment: str = Field(index=True)
    scale: str
    outcome: str
    seeds: int
    seeds_ok: int
    started: str
    finished: str
    wall_s: float
    commit: str | None = None
    dirty: bool
    device: str
    cpu: str
    gpu: str | None = None
    torch: str | None = None
    script_sha256: str
    config: str


class SeedResultTable(SQLModel, table=True):
    __tablename__ = "seed_results"
    run_id: str = Field(primary_key=True)
    seed: int = Field(primary_key=True)
    key: str
    outcome: str
    wall_s: float
    device: str | None = None
    reused: bool
    reason: str | None = None


class MetricTable(SQLModel, table=True):
    __tablename__ = "metrics"
    run_id: str = Field(primary_key=True)
    seed: int = Field(primary_key=True)
    metric: str = Field(primary_key=True)
    experiment: str = Field(index=True)
    scale: str
    value: float


class MetaTable(SQLModel, table=True):
    __tablename__ = "kb_meta"
    key: str = Field(primary_key=True)
    value: str


MODELS: dict[str, type[SQLModel]] = {
    "claims": ClaimTable,
    "sources": SourceTable,
    "references": ReferenceTable,
    "predictions": PredictionTable,
    "experiments": ExperimentTable,
    "runs": RunTable,
    "seed_results": SeedResultTable,
    "metrics": MetricTable,
}


def database_url(root: Path) -> str:
    url = os.environ.get(ENV_URL)
    if url:
        return url
    path = root / DEFAULT_DATABASE
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def engine_for(url: str) -> Engine:
    return create_engine(url)


def fingerprint(root: Path) -> str:
    """Changes whenever an input file is added, removed, or modified."""
    digest = hashlib.sha256()
    patterns = (
        "claims/**/*.yaml",
        "claims/**/*.yml",
        "claims/references.bib",
        "repro/*.py",
        "repro/runs/*/*.json",
    )
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            stat = path.stat()
            digest.update(
                f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
            )
    return digest.hexdigest()


@dataclass(frozen=True)
class IndexReport:
    url: str
    rebuilt: bool
    counts: dict[str, int]


def _safe_url(url: str) -> str:
    """The URL as shown to users: without a password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def create_tables(engine: Engine) -> None:
    """Create missing tables. Two `kb` processes doing this at once on a new PostgreSQL
    database can collide in the catalog; the loser retries and then finds them made."""
    from sqlalchemy.exc import DBAPIError

    for attempt in range(3):
        try:
            SQLModel.metadata.create_all(engine)
            return
        except DBAPIError:
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))


def rebuild(engine: Engine, rows: Rows, stamp: str) -> None:
    """Replace every table's content in one transaction: readers see old or new, never half."""
    create_tables(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Concurrent rebuilds (several `kb` processes) take turns; without this, two
            # delete-then-insert transactions collide on the primary keys. SQLite already
            # serializes writers on its file lock.
            conn.execute(text("SELECT pg_advisory_xact_lock(7363420)"))
        for name, model in MODELS.items():
            conn.execute(delete(model))
            if rows[name]:
                conn.execute(insert(model), rows[name])  # one executemany: ~10x add_all
        conn.execute(delete(MetaTable))
        conn.execute(insert(MetaTable), [{"key": "fingerprint", "value": stamp}])


def stored_fingerprint(engine: Engine) -> str | None:
    create_tables(engine)
    with engine.connect() as conn:
        value = conn.execute(
            select(col(MetaTable.value)).where(col(MetaTable.key) == "fingerprint")
        ).scalar_one_or_none()
    return str(value) if value is not None else None


def refresh(kb: KnowledgeBase, *, force: bool = False, url: str | None = None) -> IndexReport:
    """Bring the index up to date with the files (rebuilding only when they changed)."""
    url = url or database_url(kb.root)
    engine = engine_for(url)
    try:
        stamp = fingerprint(kb.root)
        if not force and stored_fingerprint(engine) == stamp:
            return IndexReport(_safe_url(url), False, _counts(engine))
        records, _ = read_records(kb.root)
        rebuild(engine, flatten(kb, records), stamp)
        return IndexReport(_safe_url(url), True, _counts(engine))
    finally:
        engine.dispose()


def _counts(engine: Engine) -> dict[str, int]:
    from sqlalchemy import func

    with engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(model)).scalar_one())
            for name, model in MODELS.items()
        }


def query(kb: KnowledgeBase, sql: str) -> list[dict[str, Any]]:
    """Run a read-only SQL query against a fresh index (for `kb index --sql`)."""
    refresh(kb)
    engine = engine_for(database_url(kb.root))
    try:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()
