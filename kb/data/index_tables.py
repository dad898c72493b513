"""The SQL index's tables: one sqlmodel class per row kind of `kb.data.tables`.

Columns mirror the rows that the exports write too, so a query against the index and a
CSV export agree; `MetaTable` holds the kb version, the fingerprint and per-file hashes.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


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


