"""What the pages show, computed once from the knowledge base and the run records.

Nothing here renders or derives a verdict: verdicts and statuses are the ones stored in
each claim's `status` block (None means "not derived yet"); this module only indexes them
(per prediction, per phenomenon, per regime) and finds the cruxes between explanations.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from kb.checking.knowledge import KnowledgeBase
from kb.formats.bib import Reference
from kb.formats.expectation import Expectation
from kb.formats.experiment import ExperimentInfo
from kb.formats.records import RunOutcome, RunRecord
from kb.formats.schema import (
    Claim,
    Kind,
    Prediction,
    StatusChange,
    StatusValue,
    VerdictRecord,
    VerdictValue,
)
from kb.site.labels import regime_text

if TYPE_CHECKING:
    from kb.evidence.verdicts import VariantVerdict

PENDING = "pending"  # the claim has no stored status yet: `kb run` has not derived it
OPEN = "open"  # the prediction names no experiment yet

STATUS_ORDER = [s.value for s in StatusValue] + [PENDING]
CERTAINTY_ORDER = ["high", "moderate", "low", "very low"]


@dataclass(frozen=True)
class SiteOptions:
    """How pages link and where plots are cached; taken from mkdocs.yml by the hook."""

    site_name: str = "kb"
    site_url: str | None = None  # absolute base URL, for the feed and JSON-LD
    directory_urls: bool = True
    cache_dir: Path | None = None  # plot cache (SVG by content hash); None: no disk cache
    plots: bool = True


@dataclass(frozen=True)
class Cell:
    """One prediction as a verdict cell: its state and the stored record behind it."""

    claim: Claim
    prediction: Prediction
    state: str  # holds | fails | inconclusive | untested | open | pending
    record: VerdictRecord | None


@dataclass(frozen=True)
class Row:
    """Predictions of competing explanations about one metric (or one unmeasured prediction)."""

    key: str  # the metric, or "<claim>/<prediction>" for a prediction without one
    metric: str | None
    experiments: tuple[str, ...]
    cells: dict[str, list[Cell]]  # claim id -> its predictions in this row
    crux: bool  # two explanations expect incompatible outcomes of this metric


@dataclass(frozen=True)
class Event:
    """One entry of a claim's status history."""

    date: dt.date
    claim: Claim
    index: int  # position in the claim's history (stable anchor for the feed)
    status: str
    certainty: str
    previous: str | None  # "status · certainty" before, None for the first entry
    run: str | None
    cause: str | None = None  # what changed it when no run of the claim did


@dataclass(frozen=True)
class Freshness:
    runs: int
    last: RunRecord | None
    devices: tuple[str, ...]


@dataclass
class CoverageCell:
    holds: int = 0
    fails: int = 0
    inconclusive: int = 0
    claimed: set[str] = field(default_factory=set)  # claims whose scope includes the regime
    tested: set[str] = field(default_factory=set)  # claims with a counted verdict there
    conflicts: set[str] = field(default_factory=set)  # claims holding and failing there

    @property
    def state(self) -> str:
        if self.conflicts:
            return "conflict"
        if self.holds or self.fails or self.inconclusive:
            return "evidence"
        if self.claimed:
            return "missing"
        return "none"


def disjoint(a: Expectation, b: Expectation) -> bool:
    """True when no value satisfies both expectations (they cannot both hold)."""
    lo, hi = (a, b) if a.low <= b.low else (b, a)
    if lo.high < hi.low:
        return True
    if lo.high == hi.low:  # touching ends: disjoint unless both ends are closed
        return lo.op == "<" or hi.op == ">"
    return False


class Site:
    """The knowledge base and its runs, indexed for the pages."""

    def __init__(
        self, kb: KnowledgeBase, records: list[RunRecord], options: SiteOptions | None = None
    ) -> None:
        self.kb = kb
        self.records = sorted(records, key=lambda r: (r.started, r.id))
        self.options = options or SiteOptions()
        self._matrices: dict[str, list[Row]] = {}

    # -- claims -------------------------------------------------------------------------

    @cached_property
    def claims(self) -> list[Claim]:
        return [self.kb.claims[cid].claim for cid in sorted(self.kb.claims)]

    @cached_property
    def by_id(self) -> dict[str, Claim]:
        return {c.id: c for c in self.claims}

    def file(self, claim: Claim) -> str:
        return self.kb.claims[claim.id].file

    @cached_property
    def references(self) -> dict[str, Reference]:
        """The bibliography with LaTeX decoded to Unicode, for display."""
        from kb.site.bibtext import decoded

        return decoded(self.kb.root / "claims" / "references.bib", self.kb.references)

    @cached_property
    def topics(self) -> list[str]:
        return sorted({c.topic for c in self.claims})

    @cached_property
    def phenomena(self) -> list[Claim]:
        return sorted(
            (c for c in self.claims if c.kind is Kind.phenomenon), key=lambda c: (c.topic, c.id)
        )

    @cached_property
    def explanations(self) -> dict[str, list[Claim]]:
        out: dict[str, list[Claim]] = defaultdict(list)
        for c in self.claims:
            if c.explains:
                out[c.explains].append(c)
        return dict(out)

    def explanations_of(self, phenomenon: Claim) -> list[Claim]:
        return self.explanations.get(phenomenon.id, [])

    def phenomenon_of(self, claim: Claim) -> Claim:
        """The phenomenon page a claim appears on (itself for a phenomenon)."""
        if claim.explains and claim.explains in self.by_id:
            return self.by_id[claim.explains]
        return claim

    def family(self, phenomenon: Claim) -> list[Claim]:
        return [phenomenon, *self.explanations_of(phenomenon)]

    @cached_property
    def tags(self) -> dict[str, list[Claim]]:
        out: dict[str, list[Claim]] = defaultdict(list)
        for c in self.claims:
            for tag in sorted(set(c.tags)):
                out[tag].append(c)
        return dict(sorted(out.items()))

    @cached_property
    def cited_by(self) -> dict[str, list[tuple[Claim, str]]]:
        """citekey -> (claim, stance) pairs, each pair once."""
        out: dict[str, list[tuple[Claim, str]]] = defaultdict(list)
        for c in self.claims:
            for stance in sorted({(s.citekey, s.stance.value) for s in c.sources}):
                out[stance[0]].append((c, stance[1]))
        return dict(out)

    # -- verdicts -----------------------------------------------------------------------

    def status_value(self, claim: Claim) -> str:
        return claim.status.value.value if claim.status else PENDING

    def certainty(self, claim: Claim) -> str:
        return claim.status.certainty.value if claim.status else ""

    def cell(self, claim: Claim, prediction: Prediction) -> Cell:
        if prediction.open:
            return Cell(claim, prediction, OPEN, None)
        if claim.status is None:
            return Cell(claim, prediction, PENDING, None)
        record = next((v for v in claim.status.verdicts if v.prediction == prediction.id), None)
        state = record.verdict.value if record else VerdictValue.untested.value
        return Cell(claim, prediction, state, record)

    def matrix(self, phenomenon: Claim) -> list[Row]:
        """Rows of the explanations' predictions, grouped by metric; cruxes first."""
        if phenomenon.id not in self._matrices:
            self._matrices[phenomenon.id] = self._matrix(phenomenon)
        return self._matrices[phenomenon.id]

    def _matrix(self, phenomenon: Claim) -> list[Row]:
        groups: dict[str, list[Cell]] = defaultdict(list)
        for claim in self.explanations_of(phenomenon):
            for p in claim.predictions:
                key = p.metric or f"{claim.id}/{p.id}"
                groups[key].append(self.cell(claim, p))
        rows = []
        for key, cells in groups.items():
            by_claim: dict[str, list[Cell]] = defaultdict(list)
            for c in cells:
                by_claim[c.claim.id].append(c)
            metric = cells[0].prediction.metric
            experiments = tuple(sorted({c.prediction.experiment for c in cells if c.prediction.experiment}))
            rows.append(Row(key, metric, experiments, dict(by_claim), _is_crux(cells)))
        return sorted(rows, key=lambda r: (not r.crux, r.key))

    # -- runs ---------------------------------------------------------------------------

    @cached_property
    def runs_by_experiment(self) -> dict[str, list[RunRecord]]:
        out: dict[str, list[RunRecord]] = defaultdict(list)
        for r in self.records:
            out[r.experiment].append(r)
        return dict(out)

    @cached_property
    def runs_by_id(self) -> dict[str, RunRecord]:
        return {r.id: r for r in self.records}

    @cached_property
    def experiments(self) -> list[str]:
        """Experiments with a script or with run records."""
        return sorted(set(self.kb.experiment_info) | set(self.runs_by_experiment))

    def info(self, experiment: str) -> ExperimentInfo | None:
        return self.kb.experiment_info.get(experiment)

    def experiments_of(self, claims: list[Claim]) -> list[str]:
        return sorted({p.experiment for c in claims for p in c.predictions if p.experiment})

    def freshness(self, claims: list[Claim]) -> Freshness:
        runs = [
            r
            for e in self.experiments_of(claims)
            for r in self.runs_by_experiment.get(e, [])
            if r.outcome is not RunOutcome.failed
        ]
        runs.sort(key=lambda r: (r.finished, r.id))
        devices = tuple(sorted({r.hardware.device for r in runs}))
        return Freshness(len(runs), runs[-1] if runs else None, devices)

    def predictions_using(self, experiment: str) -> list[tuple[Claim, Prediction]]:
        return [(c, p) for c in self.claims for p in c.predictions if p.experiment == experiment]

    def devices(self, record: VerdictRecord | None) -> list[str]:
        """The devices of the runs a verdict counts."""
        if record is None:
            return []
        return sorted({self.runs_by_id[r].hardware.device for r in record.runs if r in self.runs_by_id})

    def regime(self, cell: Cell) -> str:
        """Where a stored verdict was measured: 'MNIST-1D · MLP 8×128 · smoke · CPU'."""
        if cell.record is None:
            return ""
        info = self.info(cell.prediction.experiment or "")
        return regime_text(info, cell.record.scale, self.devices(cell.record))

    @cached_property
    def _variants(self) -> dict[tuple[str, str], list[VariantVerdict]]:
        """The specification curve of each prediction: its verdict under every configuration
        other than the registered one that has runs (derived by the evidence engine, only for
        the families whose experiments have such runs, so an ordinary build pays nothing)."""
        varied = {
            r.experiment for r in self.records
            if (info := self.info(r.experiment)) is not None
            and r.scale in info.scales and r.config != info.scales[r.scale]
        }
        if not varied:
            return {}
        from dataclasses import replace

        from kb.evidence.rules import derive, family_of

        families = {family_of(c) for c in self.claims for p in c.predictions if p.experiment in varied}
        claims = {cid: loaded for cid, loaded in self.kb.claims.items() if family_of(loaded.claim) in families}
        experiments = sorted({p.experiment for lc in claims.values() for p in lc.claim.predictions if p.experiment})
        records = [r for r in self.records if r.experiment in experiments]
        derivation = derive(replace(self.kb, claims=claims), records, self.kb.experiment_info)
        return {key: found for key, found in derivation.variants.items() if found}

    def variants(self, claim: Claim, prediction: Prediction) -> list[VariantVerdict]:
        return self._variants.get((claim.id, prediction.id), [])

    # -- history ------------------------------------------------------------------------

    @cached_property
    def history(self) -> dict[str, list[StatusChange]]:
        """Each claim's status history, read from git (never from the file, which a pull
        request could edit). Outside a git repository there is none."""
        from kb.evidence.history import status_history

        return status_history(self.kb)

    @cached_property
    def events(self) -> list[Event]:
        """Every status change, newest first."""
        out = []
        for c in self.claims:
            previous = None
            for i, h in enumerate(self.history.get(c.id, [])):
                now = f"{h.status.value} · {h.certainty.value}"
                out.append(Event(h.date, c, i, h.status.value, h.certainty.value, previous, h.run,
                                 h.cause))
                previous = now
        return sorted(out, key=lambda e: (e.date, e.claim.id, e.index), reverse=True)

    @cached_property
    def events_by_claim(self) -> dict[str, list[tuple[int, Event]]]:
        """Each claim's events with their position in `events`, so one page need not scan all."""
        out: dict[str, list[tuple[int, Event]]] = defaultdict(list)
        for position, e in enumerate(self.events):
            out[e.claim.id].append((position, e))
        return out

    def events_of(self, claims: list[Claim]) -> list[Event]:
        """The events of these claims, newest first (the order of `events`)."""
        found = [pe for c in claims for pe in self.events_by_claim.get(c.id, [])]
        return [e for _, e in sorted(found, key=lambda pe: pe[0])]

    @cached_property
    def open_predictions(self) -> list[tuple[Claim, Prediction]]:
        return [(c, p) for c in sorted(self.claims, key=lambda c: (c.topic, c.id)) for p in c.predictions if p.open]

    # -- coverage -----------------------------------------------------------------------

    def regime_of(self, cell: Cell) -> dict[str, object]:
        """REGIME[scale] of the experiment behind a stored verdict, if declared."""
        if cell.record is None or cell.record.scale is None:
            return {}
        info = self.info(cell.prediction.experiment or "")
        regime = info.regime.get(cell.record.scale, {}) if info else {}
        return regime if isinstance(regime, dict) else {}

    def coverage(self, axis: str) -> tuple[list[str], dict[tuple[str, str], CoverageCell]]:
        """Topics x regimes ('data_scale' or 'architectures'): where evidence is, where not."""
        grid: dict[tuple[str, str], CoverageCell] = defaultdict(CoverageCell)
        columns: set[str] = set()
        for claim in self.claims:
            claimed = (
                [d.value for d in claim.scope.data_scale]
                if axis == "data_scale"
                else list(claim.scope.architectures)
            )
            columns.update(claimed)
            for value in claimed:
                grid[(claim.topic, value)].claimed.add(claim.id)
            verdicts: dict[str, set[str]] = defaultdict(set)
            for p in claim.predictions:
                cell = self.cell(claim, p)
                if cell.state not in ("holds", "fails", "inconclusive"):
                    continue
                raw = self.regime_of(cell).get(axis)
                items = raw if isinstance(raw, list) else [raw] if raw else ["unspecified"]
                for value in (str(v) for v in items):
                    columns.add(value)
                    target = grid[(claim.topic, value)]
                    setattr(target, cell.state, getattr(target, cell.state) + 1)
                    target.tested.add(claim.id)
                    verdicts[value].add(cell.state)
            for value, states in verdicts.items():
                if {"holds", "fails"} <= states:
                    grid[(claim.topic, value)].conflicts.add(claim.id)
        order = {"toy": 0, "small": 1, "medium": 2, "large": 3}
        return sorted(columns, key=lambda v: (order.get(v, 9), v)), dict(grid)


def _is_crux(cells: list[Cell]) -> bool:
    for i, a in enumerate(cells):
        for b in cells[i + 1 :]:
            ea, eb = a.prediction.expectation, b.prediction.expectation
            if a.claim.id != b.claim.id and ea and eb and disjoint(ea, eb):
                return True
    return False
