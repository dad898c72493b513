"""Verdicts, statuses and certainty: hand-made knowledge bases and run records."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.checking.knowledge import KnowledgeBase, LoadedClaim
from kb.checking.load import load
from kb.evidence.methodology import methodology_markdown
from kb.evidence.registration import Registration
from kb.evidence.rules import (
    CERTAINTY_RULES,
    STATUS_RULES,
    Context,
    Derivation,
    Evidence,
    Tally,
    certainty,
    derive,
    reason,
    stale_statuses,
    status_rule,
    verdict_reason,
)
from kb.evidence.stats import t_interval
from kb.evidence.writeback import write_status
from kb.formats.experiment import ExperimentInfo, MetricSpec, ValidityCheck, read_experiment
from kb.formats.records import (
    GitInfo,
    Hardware,
    Outcome,
    PredictionRef,
    RunRecord,
    SeedResult,
    prediction_sha256,
    sha256_bytes,
)
from kb.formats.schema import (
    Certainty,
    Claim,
    Direction,
    Prediction,
    Range,
    StatusChange,
    StatusValue,
    VerdictRecord,
    VerdictValue,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SCRIPT = '"""A stand-in experiment."""\n'
SHA = sha256_bytes(SCRIPT.encode())
EXPERIMENTS = {
    "exp": ExperimentInfo(
        "exp", Path("repro/exp.py"), "", {"smoke": {}, "full": {}},
        {"smoke": {"data_scale": "toy"}, "full": {"data_scale": "small"}},
        {"m": "a metric", "dose_response_spearman": "rank correlation"},
    )
}
CLEAR = [2.0, 2.1, 1.9, 2.05, 1.95]  # far above 1 with 5 seeds


def pred(pid: str = "p", expect: str = "> 1", **extra: Any) -> dict[str, Any]:
    return {"id": pid, "statement": "It goes up.", "experiment": "exp", "metric": "m",
            "expect": expect, **extra}


def claim(cid: str = "c", *predictions: dict[str, Any],
          stances: Sequence[tuple[str, str]] = (("ioffe2015", "proposes"),),
          data_scale: Sequence[str] = ("toy",), explains: str | None = None) -> Claim:
    kind = {"kind": "explanation", "explains": explains} if explains else {"kind": "phenomenon"}
    return Claim.model_validate({
        "schema_version": 1, "id": cid, **kind, "title": "T", "statement": "S.",
        "summary": "S.", "topic": "demo", "scope": {"data_scale": list(data_scale)},
        "sources": [{"citekey": k, "stance": s, "locator": "Sec. 1"} for k, s in stances],
        "predictions": list(predictions), "created": "2026-01-01", "updated": "2026-01-01",
    })


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "repro").mkdir()
    (tmp_path / "repro" / "exp.py").write_text(SCRIPT)
    return tmp_path


def make_kb(root: Path, *claims: Claim) -> KnowledgeBase:
    return KnowledgeBase(
        root=root,
        claims={c.id: LoadedClaim(c, f"claims/demo/{c.id}.yaml", root / f"claims/demo/{c.id}.yaml")
                for c in claims},
        experiments={"exp": root / "repro" / "exp.py"},
    )


def ref(c: Claim, pid: str = "p") -> PredictionRef:
    p = next(x for x in c.predictions if x.id == pid)
    return PredictionRef(claim=c.id, prediction=pid, sha256=prediction_sha256(c.id, p))


def run(rid: str, values: Iterable[float], *, refs: Sequence[PredictionRef] = (), scale: str = "smoke",
        started: dt.datetime = T0 + dt.timedelta(days=1), device: str = "cpu", script_sha: str = SHA,
        keys: Sequence[str] | None = None, extra: dict[str, float] | None = None,
        reused_from: str | None = None, metric: str = "m", experiment: str = "exp",
        config: dict[str, Any] | None = None) -> RunRecord:
    values = list(values)
    results = [
        SeedResult(seed=i, key=keys[i] if keys else f"{rid}-{i}", outcome="ok",
                   metrics={metric: v, **(extra or {})}, reused_from=reused_from)
        for i, v in enumerate(values)
    ]
    return RunRecord(
        id=rid, experiment=experiment, scale=scale, config=config or {}, seeds=list(range(len(values))),
        outcome="ok", results=results, script="repro/exp.py", script_sha256=script_sha,
        predictions=list(refs), git=GitInfo(commit=None, dirty=False), packages={},
        hardware=Hardware(device=device, cpu="x", cores=1, platform="Linux x86_64"),
        started=started, finished=started, wall_s=1.0, command="kb run",
    )


def verdict(d: Derivation, cid: str = "c", pid: str = "p") -> VerdictRecord:
    return d.verdicts[(cid, pid)]


# ---- verdicts ------------------------------------------------------------------------------


def test_open_and_unrun_predictions_are_untested(root: Path) -> None:
    c = claim("c", pred("p"), {"id": "q", "statement": "Someday.", "open": True})
    d = derive(make_kb(root, c), [], EXPERIMENTS)
    assert verdict(d).verdict is VerdictValue.untested
    assert verdict(d, pid="q") == VerdictRecord(prediction="q", verdict=VerdictValue.untested)
    assert d.statuses["c"].value is StatusValue.untested


def test_holds_and_fails_with_holm_levels(root: Path) -> None:
    # Two explanations of one phenomenon: one family, corrected together.
    up, down = claim("up", pred("p", "> 1"), explains="ph"), claim("down", pred("p", "< 1"), explains="ph")
    d = derive(make_kb(root, up, down), [run("r1", CLEAR)], EXPERIMENTS)
    holds, fails = verdict(d, "up"), verdict(d, "down")
    assert (holds.verdict, fails.verdict) == (VerdictValue.holds, VerdictValue.fails)
    # Same values against the same boundary: equal p, ranks 1 and 2 in key order (down, up)
    assert (fails.level, holds.level) == (0.975, 0.95)
    _, lo, hi = t_interval(CLEAR, 0.95)
    assert holds.interval == (round(lo, 3), round(hi, 3))
    assert holds.estimate == 2.0 and holds.n == 5 and holds.scale == "smoke"
    assert holds.runs == ["r1"] and holds.stale_runs == []
    assert holds.p_adjusted is not None and holds.p_adjusted < 0.001


def test_too_few_seeds_is_inconclusive_and_outside_the_family(root: Path) -> None:
    two, three = claim("two", pred("p", metric="m2")), claim("three", pred("p"))
    records = [run("r1", [2.0, 2.05], metric="m2"), run("r2", [2.0, 2.1, 1.9])]
    d = derive(make_kb(root, two, three), records, EXPERIMENTS)
    v = verdict(d, "two")
    assert (v.verdict, v.n, v.estimate, v.interval, v.level, v.runs) == (
        VerdictValue.inconclusive, 2, 2.025, None, None, ["r1"])
    assert verdict(d, "three").level == 0.95  # a family of one: "two" is not in it
    assert "needs at least 3" in verdict_reason(two.predictions[0], v)


def test_a_prediction_that_holds_alone_is_inconclusive_in_a_larger_family(root: Path) -> None:
    # [1, 1.5, 2] against "> 0": t = 5.196 with 2 df, p = 0.035. Alone, 0.035 <= 0.05: holds.
    # Among three such predictions Holm multiplies the smallest by 3: 0.105 > 0.05.
    values = [1.0, 1.5, 2.0]
    alone = claim("a", pred("p", "> 0"))
    d = derive(make_kb(root, alone), [run("r1", values)], EXPERIMENTS)
    assert verdict(d, "a").verdict is VerdictValue.holds
    assert verdict(d, "a").p_adjusted == pytest.approx(0.03509, abs=1e-5)
    # Two explanations of phenomenon "a": the three predictions form one family.
    others = [claim(cid, pred("p", "> 0"), explains="a") for cid in ("b", "c")]
    d = derive(make_kb(root, alone, *others), [run("r1", values)], EXPERIMENTS)
    v = verdict(d, "a")
    assert v.verdict is VerdictValue.inconclusive
    assert v.p_adjusted == pytest.approx(3 * 0.03509, abs=1e-4)
    assert v.level == pytest.approx(1 - 0.05 / 3, abs=1e-6)  # ranked first of three
    assert "Holm-corrected over the 3 tested predictions of its family" in verdict_reason(
        alone.predictions[0], v)
    # Outside the family nothing moves: the same three claims as phenomena of their own.
    apart = [claim(cid, pred("p", "> 0")) for cid in ("b", "c")]
    d = derive(make_kb(root, alone, *apart), [run("r1", values)], EXPERIMENTS)
    assert verdict(d, "a").verdict is VerdictValue.holds


# ---- what is counted -----------------------------------------------------------------------


def test_a_changed_script_makes_runs_stale(root: Path) -> None:
    c = claim("c", pred())
    d = derive(make_kb(root, c), [run("old", CLEAR, script_sha="0" * 64), run("new", [2.0])], EXPERIMENTS)
    v = verdict(d)
    assert (v.verdict, v.n, v.runs, v.stale_runs) == (VerdictValue.inconclusive, 1, ["new"], ["old"])


def test_a_changed_threshold_makes_runs_stale(root: Path) -> None:
    before = claim("c", pred(expect="> 0.5"))
    after = claim("c", pred(expect="> 1"))
    d = derive(make_kb(root, after), [run("r1", CLEAR, refs=[ref(before)])], EXPERIMENTS)
    assert (verdict(d).verdict, verdict(d).stale_runs) == (VerdictValue.untested, ["r1"])
    assert "1 stale run" in verdict_reason(after.predictions[0], verdict(d))


def test_rewording_the_statement_does_not_stale(root: Path) -> None:
    before = claim("c", pred(statement="It goes up."))
    after = claim("c", pred(statement="It rises, clearly and measurably."))
    d = derive(make_kb(root, after), [run("r1", CLEAR, refs=[ref(before)])], EXPERIMENTS)
    assert verdict(d).verdict is VerdictValue.holds and verdict(d).stale_runs == []


def test_failed_seeds_and_missing_metrics_are_not_counted(root: Path) -> None:
    record = run("r1", [2.0, 2.1, 1.9])
    record.results.append(SeedResult(seed=7, key="k7", outcome="failed", reason="NaN"))
    record.results.append(SeedResult(seed=8, key="k8", outcome="ok", metrics={"other": 1.0}))
    # Records cannot hold NaN (SeedResult rejects it); the engine ignores one all the same.
    record.results.append(SeedResult.model_construct(seed=9, key="k9", outcome=Outcome.ok, metrics={"m": float("nan")}))
    d = derive(make_kb(root, claim("c", pred())), [record], EXPERIMENTS)
    assert verdict(d).n == 3


def test_the_same_seed_recorded_twice_counts_once_latest_kept(root: Path) -> None:
    first = run("r1", [2.0, 2.0, 2.0], keys=["k0", "k1", "k2"])
    resumed = run("r2", [2.0, 3.0, 2.0], keys=["k1", "k2", "k3"], started=T0 + dt.timedelta(days=2))
    d = derive(make_kb(root, claim("c", pred())), [resumed, first], EXPERIMENTS)
    v = verdict(d)
    assert v.n == 4  # k0 from r1; k1, k2, k3 from r2
    assert v.estimate == pytest.approx((2.0 + 2.0 + 3.0 + 2.0) / 4)
    assert v.runs == ["r1", "r2"]


def test_the_largest_scale_with_counted_seeds_is_used(root: Path) -> None:
    c = claim("c", pred())
    smoke, full = run("s", CLEAR), run("f", [3.0, 3.1, 2.9], scale="full")
    d = derive(make_kb(root, c), [smoke, full], EXPERIMENTS)
    assert (verdict(d).scale, verdict(d).runs, verdict(d).n) == ("full", ["f"], 3)
    stale_full = run("f", [3.0, 3.1, 2.9], scale="full", script_sha="0" * 64)
    d = derive(make_kb(root, c), [smoke, stale_full], EXPERIMENTS)
    assert (verdict(d).scale, verdict(d).stale_runs) == ("smoke", ["f"])
    d = derive(make_kb(root, c), [run("x", CLEAR, scale="zeta"), run("y", CLEAR, scale="alpha")], EXPERIMENTS)
    assert verdict(d).scale == "alpha"
    d = derive(make_kb(root, c), [run("x", CLEAR, scale="alpha"), smoke], EXPERIMENTS)
    assert verdict(d).scale == "smoke"


# ---- confirmatory --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "listed", "expected"),
    [
        (T0, True, True),  # committed, then run
        (T0 + dt.timedelta(days=3), True, False),  # run before the commit
        (None, True, False),  # current version never committed
        (T0, False, False),  # the run did not know the prediction
    ],
)
def test_confirmatory(root: Path, moment: dt.datetime | None, listed: bool, expected: bool) -> None:
    c = claim("c", pred())
    record = run("r1", CLEAR, refs=[ref(c)] if listed else [])
    registration = Registration("abc", moment) if moment is not None else None
    d = derive(make_kb(root, c), [record], EXPERIMENTS, registered={("c", "p"): registration})
    assert verdict(d).confirmatory is expected


def test_confirmatory_unassessed_without_registrations(root: Path) -> None:
    c = claim("c", pred())
    assert verdict(derive(make_kb(root, c), [run("r1", CLEAR, refs=[ref(c)])], EXPERIMENTS)).confirmatory is None


def test_a_reused_seed_is_dated_by_the_run_that_computed_it(root: Path) -> None:
    c = claim("c", pred())
    early = run("r1", CLEAR, refs=[ref(c)], started=T0 - dt.timedelta(days=1))
    later = run("r2", CLEAR, refs=[ref(c)], keys=[f"r1-{i}" for i in range(5)], reused_from="r1")
    d = derive(make_kb(root, c), [early, later], EXPERIMENTS, registered={("c", "p"): Registration("abc", T0)})
    assert verdict(d).runs == ["r2"] and verdict(d).confirmatory is False


# ---- status: two lines of evidence ---------------------------------------------------------

STATUS_CASES = [
    # (holds, fails, supports, qualifies, refutes) -> (status, basis)
    ((1, 0, 0, 0, 0), StatusValue.supported, "experiments"),
    ((0, 1, 0, 0, 0), StatusValue.refuted, "experiments"),
    ((1, 1, 0, 0, 0), StatusValue.contested, "experiments"),
    ((1, 0, 0, 0, 2), StatusValue.contested, "both"),  # our runs never overrule the literature
    ((0, 1, 2, 0, 0), StatusValue.contested, "both"),
    ((1, 0, 1, 0, 0), StatusValue.supported, "both"),
    ((0, 1, 0, 0, 1), StatusValue.refuted, "both"),
    ((0, 0, 1, 0, 0), StatusValue.supported, "literature"),
    ((0, 0, 0, 1, 0), StatusValue.untested, "none"),  # qualifies takes neither side
    ((0, 0, 0, 0, 1), StatusValue.refuted, "literature"),
    ((0, 0, 1, 0, 1), StatusValue.contested, "literature"),
    ((0, 0, 0, 1, 1), StatusValue.refuted, "literature"),
    ((0, 0, 0, 0, 0), StatusValue.untested, "none"),
    ((1, 1, 1, 0, 1), StatusValue.contested, "experiments"),
]


def make_tally(holds: int, fails: int, supports: int, qualifies: int, refutes: int,
               *, inconclusive: int = 0, in_scope: bool | None = True, regime: str = "") -> Tally:
    return Tally(tuple(f"h{i}" for i in range(holds)), tuple(f"f{i}" for i in range(fails)),
                 tuple(f"i{i}" for i in range(inconclusive)), (),
                 tuple(f"s{i}" for i in range(supports)), tuple(f"q{i}" for i in range(qualifies)),
                 tuple(f"r{i}" for i in range(refutes)),
                 in_scope=in_scope if holds or fails else None, regime=regime)


@pytest.mark.parametrize(("counts", "status", "basis"), STATUS_CASES)
def test_status_rule_table(counts: tuple[int, ...], status: StatusValue, basis: str) -> None:
    rule = status_rule(make_tally(*counts))
    assert (rule.status, rule.basis) == (status, basis)


def test_exactly_one_status_rule_applies_to_every_case() -> None:
    for *counts, in_scope, proposed in itertools.product((0, 1), repeat=7):
        tally = make_tally(*counts, in_scope=bool(in_scope))
        tally = Tally(**{**tally.__dict__, "proposed": ("p",) if proposed else ()})
        assert sum(rule.applies(tally) for rule in STATUS_RULES) == 1, (counts, in_scope, proposed)


def test_the_proposing_work_is_not_independent(root: Path) -> None:
    c = claim("c", stances=[("ioffe2015", "proposes"), ("ioffe2015", "supports"), ("x", "discusses")])
    status = derive(make_kb(root, c), [], EXPERIMENTS).statuses["c"]
    assert (status.value, status.basis, status.certainty) == (StatusValue.untested, "none", Certainty.low)
    assert status.reason == (
        "No independent work supports or refutes it; no prediction of ours has been tested.")
    assert status.tier == "no evidence yet"


def test_each_work_counts_once(root: Path) -> None:
    c = claim("c", stances=[("a", "proposes"), ("s", "refutes"), ("s", "refutes")])
    status = derive(make_kb(root, c), [], EXPERIMENTS).statuses["c"]
    assert status.value is StatusValue.refuted
    assert status.reason.startswith("1 independent work refutes it;")
    assert status.literature is not None and status.literature.summary == "1 independent work refutes"


def test_a_toy_reproduction_cannot_overrule_in_scope_literature(root: Path) -> None:
    # The flagship case: a toy-scale run agrees with the explanation, the in-scope literature
    # refutes it. The status is contested, with both lines visible, never supported.
    c = claim("ics", pred("p", "> 1.5"), data_scale=["small", "medium"],
              stances=[("ioffe2015", "proposes"), ("santurkar2018", "refutes")], explains="bn")
    status = derive(make_kb(root, c), [run("r1", [11.0, 12.0, 11.5, 10.8, 11.9])], EXPERIMENTS).statuses["ics"]
    assert (status.value, status.basis) == (StatusValue.contested, "both")
    assert status.literature is not None and status.literature.direction is Direction.against
    assert status.reproduction is not None and status.reproduction.direction is Direction.for_
    assert status.reproduction.in_scope is False
    assert "outside the claim's scope" in status.reason and "the two lines disagree" in status.reason
    assert status.certainty is Certainty.very_low  # literature start (low), lines disagree
    assert status.tier == "literature and toy reproduction"


def test_a_toy_reproduction_against_the_proposer_is_a_disagreement_not_a_refutation(root: Path) -> None:
    # Only the proposing work speaks (not independent), and it reports in-scope evidence for
    # the claim; our toy-scale run fails the prediction. That is contested, never refuted.
    c = claim("smooth", pred("p", "< 1.25"), data_scale=["small"], explains="bn",
              stances=[("santurkar2018", "proposes")])
    status = derive(make_kb(root, c), [run("r1", [11.0, 12.0, 11.5, 10.8, 11.9])], EXPERIMENTS).statuses["smooth"]
    assert (status.value, status.basis, status.certainty) == (StatusValue.contested, "both", Certainty.very_low)
    assert "a disagreement, not a refutation" in status.reason
    in_scope = claim("smooth", pred("p", "< 1.25"), data_scale=["toy"], explains="bn",
                     stances=[("santurkar2018", "proposes")])
    status = derive(make_kb(root, in_scope), [run("r1", [11.0, 12.0, 11.5, 10.8, 11.9])],
                    EXPERIMENTS).statuses["smooth"]
    assert status.value is StatusValue.refuted  # measured in its scope: our runs may refute it


@pytest.mark.parametrize(("measured", "scope", "inside"), [
    (64, {"min": 512}, False),  # the catapult case: a width-64 run, a claim about width >= 512
    ([32, 512], {"min": 512}, True),  # a sweep that reaches the scope's range
    ([32, 256], {"max": 16}, False),
    (None, {"min": 512}, True),  # undeclared width: no constraint
    (64, None, True),
])
def test_a_declared_width_outside_the_claims_range_is_out_of_scope(
        root: Path, measured: Any, scope: dict[str, int] | None, inside: bool) -> None:
    regime: dict[str, Any] = {"data_scale": "toy"} | ({"width": measured} if measured else {})
    info = ExperimentInfo("exp", Path("repro/exp.py"), "", {"smoke": {}, "full": {}},
                          {"smoke": regime, "full": {"data_scale": "small"}}, {"m": "a metric"})
    c = claim("c", pred("p"), explains="bn", stances=[("ioffe2015", "proposes"), ("santurkar2018", "supports")])
    if scope:
        c = c.model_copy(update={"scope": c.scope.model_copy(update={"width": Range(**scope)})})
    status = derive(make_kb(root, c), [run("r1", [0.5, 0.4, 0.45, 0.5, 0.42])], {"exp": info}).statuses["c"]
    assert status.reproduction is not None and status.reproduction.in_scope is inside
    if not inside:
        assert status.value is StatusValue.contested  # against, but outside the scope: never refuted
        shown = f"width {measured}" if isinstance(measured, int) else "width {}–{}".format(*measured)
        assert shown in status.reproduction.summary


def test_a_toy_reproduction_alone_decides_but_is_graded_down(root: Path) -> None:
    c = claim("c", pred("p"), data_scale=["small"])
    status = derive(make_kb(root, c), [run("r1", CLEAR)], EXPERIMENTS).statuses["c"]
    assert (status.value, status.basis, status.tier) == (StatusValue.supported, "experiments", "toy reproduction")
    assert [s.reason.split(":")[0] for s in status.certainty_steps] == [
        "smoke scale", "outside the scope", "single device"]
    assert status.certainty is Certainty.very_low


@pytest.mark.parametrize(
    ("counts", "inconclusive", "text"),
    [
        ((2, 0, 0, 0, 1), 0, "Our reproductions point for it (h0, h1 hold), but 1 independent work "
                             "refutes it: the two lines disagree."),
        ((1, 1, 2, 1, 0), 1, "2 independent works support it; our reproductions are divided (h0 hold; "
                             "f0 fail); q0 qualifies it."),
        ((0, 2, 0, 0, 0), 0, "No independent work supports or refutes it; our reproductions point "
                             "against it (f0, f1 fail)."),
        ((0, 0, 0, 0, 0), 2, "No independent work supports or refutes it; no prediction of ours is decisive."),
    ],
)
def test_reason_sentence(counts: tuple[int, ...], inconclusive: int, text: str) -> None:
    assert reason(make_tally(*counts, inconclusive=inconclusive)) == text


# ---- certainty -----------------------------------------------------------------------------


def ev(result: str = "holds", n: int = 5, scale: str = "full", estimate: float = 2.0,
       interval: tuple[float, float] = (1.9, 2.1), devices: Sequence[str] = ("cpu", "cuda"),
       dose: float | None = None, pid: str = "p", in_scope: bool = True, reexecutable: bool = True,
       robustness: str | None = None, fragile_on: Sequence[str] = ()) -> Evidence:
    v = VerdictRecord(prediction=pid, verdict=VerdictValue(result), scale=scale, estimate=estimate,
                      interval=interval, n=n, robustness=robustness, fragile_on=list(fragile_on))
    return Evidence(v, "small" if in_scope else "toy", frozenset(devices), dose, in_scope,
                    "small data" if in_scope else "toy data · smoke scale", reexecutable)


def context(*evidence: Evidence, lit: tuple[int, int, int] = (0, 0, 0)) -> Context:
    holds = sum(e.verdict.verdict is VerdictValue.holds for e in evidence)
    fails = len(evidence) - holds
    tally = make_tally(holds, fails, *lit, in_scope=all(e.in_scope for e in evidence))
    rule = status_rule(tally)
    return Context(claim("c", data_scale=["small"]), rule.basis, tally, tuple(evidence))


TOY = {"scale": "smoke", "in_scope": False, "devices": ["cpu"]}


@pytest.mark.parametrize(
    ("ctx", "grade", "steps"),
    [
        (context(ev()), Certainty.high, []),
        (context(ev(scale="smoke")), Certainty.moderate, ["smoke scale"]),
        (context(ev(in_scope=False)), Certainty.moderate, ["outside the scope"]),
        (context(ev(n=3)), Certainty.moderate, ["imprecision"]),
        (context(ev(estimate=0.1, interval=(0.01, 0.3))), Certainty.moderate, ["imprecision"]),
        (context(ev(devices=["cuda"])), Certainty.moderate, ["single device"]),
        (context(ev(), ev("fails", pid="q")), Certainty.moderate, ["inconsistency"]),
        (context(ev(), lit=(0, 0, 1)), Certainty.moderate, ["inconsistency"]),  # in scope: starts high
        (context(ev(**TOY), lit=(0, 0, 1)), Certainty.very_low, ["inconsistency"]),  # toy: starts low
        (context(ev(), lit=(1, 0, 0)), Certainty.high, []),
        (context(ev(robustness="robust")), Certainty.high, ["robust"]),  # never above high
        (context(ev(robustness="robust", devices=["cpu"])), Certainty.high, ["single device", "robust"]),
        (context(ev(robustness="fragile", fragile_on=["noise"])), Certainty.moderate, ["fragile"]),
        (context(ev(reexecutable=False)), Certainty.moderate, ["not re-executed"]),
        (context(ev(devices=["cpu"], dose=0.9)), Certainty.high, ["single device", "dose-response"]),
        (context(ev(dose=0.5)), Certainty.high, []),
        (context(ev("fails", dose=0.95)), Certainty.high, []),  # only a holding prediction
        (context(ev(n=3, **TOY), ev("fails", pid="q", **TOY)), Certainty.very_low,
         ["smoke scale", "outside the scope", "imprecision", "inconsistency", "single device"]),
        (context(lit=(1, 0, 0)), Certainty.low, []),  # literature alone starts low
        (context(lit=(1, 1, 0)), Certainty.very_low, ["qualified"]),
        (context(lit=(1, 0, 1)), Certainty.very_low, ["inconsistency"]),
        (context(), Certainty.low, []),
    ],
)
def test_certainty_steps(ctx: Context, grade: Certainty, steps: list[str]) -> None:
    got, taken = certainty(ctx)
    assert [s.reason.split(":")[0] for s in taken] == steps
    assert got is grade
    names = [r.name for r in CERTAINTY_RULES]
    assert all(s.change == CERTAINTY_RULES[names.index(n)].change for s, n in zip(taken, steps, strict=True))


def test_certainty_end_to_end(root: Path) -> None:
    c = claim("c", pred("p"), pred("q", "> 1.5"), data_scale=["small"],
              stances=[("a", "proposes"), ("b", "supports")])
    records = [run("r1", CLEAR, scale="full", device="cuda:0"), run("r2", [2.0, 2.02, 1.98], scale="full")]
    status = derive(make_kb(root, c), records, EXPERIMENTS).statuses["c"]
    assert (status.value, status.basis, status.certainty) == (StatusValue.supported, "both", Certainty.moderate)
    assert status.reproduction is not None and status.reproduction.in_scope is True
    assert [s.reason.split(":")[0] for s in status.certainty_steps] == ["not re-executed"]


# ---- measurements the statistics respect ---------------------------------------------------


def experiments(**changes: Any) -> dict[str, ExperimentInfo]:
    base = EXPERIMENTS["exp"]
    return {"exp": ExperimentInfo(**{**base.__dict__, **changes})}


def test_censored_values_count_only_in_the_direction_of_their_bound(root: Path) -> None:
    values = [11.0, 12.0, 11.5, 10.8, 11.9]
    record = run("r1", values).model_copy()
    for seed in record.results:
        seed.bounds = {"m": "lower"}  # the target was never reached: at least this many
    above, below, far = (claim(f"c{i}", pred("p", e)) for i, e in enumerate(("> 1.5", "< 1.25", "> 20")))
    d = derive(make_kb(root, above, below, far), [record], EXPERIMENTS)
    v = verdict(d, "c0")
    assert v.verdict is VerdictValue.holds and v.censored == 5
    assert v.interval is not None and v.interval[1] is None  # open upward: shown as a bound
    assert "≥" in verdict_reason(above.predictions[0], v)
    assert verdict(d, "c1").verdict is VerdictValue.fails  # a valid lower bound above 1.25
    far_v = verdict(d, "c2")
    assert far_v.verdict is VerdictValue.inconclusive  # a lower bound can never make "> x" fail
    assert far_v.seeds_needed is None and "only bound the value" in (far_v.reason or "")


def test_a_log_scale_metric_gets_a_log_scale_interval(root: Path) -> None:
    ratios = [32.0, 64.0, 32.0, 64.0, 32.0]
    c = claim("c", pred("p", "> 4"))
    linear = verdict(derive(make_kb(root, c), [run("r1", ratios)], EXPERIMENTS))
    logged = verdict(derive(make_kb(root, c), [run("r1", ratios)],
                            experiments(metric_specs={"m": MetricSpec("m", "a ratio", scale="log")})))
    assert logged.verdict is VerdictValue.holds
    assert logged.estimate == pytest.approx(2 ** (5.4), rel=1e-3)  # geometric mean
    assert logged.interval is not None and logged.interval[0] is not None and logged.interval[0] > 4
    assert linear.interval is not None and linear.interval[0] is not None
    assert linear.interval[0] < logged.interval[0]


def test_variants_are_never_pooled_into_the_registered_verdict(root: Path) -> None:
    info = experiments(scales={"smoke": {"noise": 0.5}, "full": {}},
                       multiverse={"smoke": {"noise": [0.1, 0.5]}})
    c = claim("c", pred("p"))
    registered = run("r1", CLEAR).model_copy(update={"config": {"noise": 0.5}})
    tuned = run("r2", [9.0, 9.0, 9.0], keys=["t0", "t1", "t2"]).model_copy(
        update={"config": {"noise": 0.1}})
    d = derive(make_kb(root, c), [registered, tuned], info)
    v = verdict(d)
    assert (v.n, v.runs, v.estimate) == (5, ["r1"], 2.0)
    [variant] = d.variants[("c", "p")]
    assert variant.changed == {"noise": 0.1} and variant.multiverse and variant.runs == ["r2"]
    assert v.robustness == "robust"
    only_variant = derive(make_kb(root, c), [tuned], info)
    assert verdict(only_variant).verdict is VerdictValue.untested


def test_a_verdict_that_flips_within_the_multiverse_is_fragile(root: Path) -> None:
    info = experiments(scales={"smoke": {"noise": 0.5}, "full": {}},
                       multiverse={"smoke": {"noise": [0.1, 0.5]}})
    c = claim("c", pred("p"))
    registered = run("r1", CLEAR).model_copy(update={"config": {"noise": 0.5}})
    weak = run("r2", [0.5, 0.6, 0.4, 0.5, 0.45], keys=[f"w{i}" for i in range(5)]).model_copy(
        update={"config": {"noise": 0.1}})
    v = verdict(derive(make_kb(root, c), [registered, weak], info))
    assert (v.verdict, v.robustness, v.fragile_on) == (VerdictValue.holds, "fragile", ["noise"])


def test_an_undecided_variant_leaves_robustness_unresolved(root: Path) -> None:
    info = experiments(scales={"smoke": {"noise": 0.5}, "full": {}},
                       multiverse={"smoke": {"noise": [0.1, 0.5]}})
    c = claim("c", pred("p"))
    registered = run("r1", CLEAR).model_copy(update={"config": {"noise": 0.5}})
    wide = run("r2", [0.2, 3.0, 2.5], keys=["u0", "u1", "u2"]).model_copy(update={"config": {"noise": 0.1}})
    v = verdict(derive(make_kb(root, c), [registered, wide], info))
    assert (v.verdict, v.robustness, v.fragile_on) == (VerdictValue.holds, "unresolved", ["noise"])


def test_a_failed_validity_check_makes_the_verdict_invalid(root: Path) -> None:
    check = ValidityCheck("learned", "acc", "> 0.5", "the model must learn before it is lesioned")
    info = experiments(validity={"learned": check},
                       metrics={"m": "a metric", "acc": "accuracy"})
    c = claim("c", pred("p"))
    failed = derive(make_kb(root, c), [run("r1", CLEAR, extra={"acc": 0.2})], info)
    v = verdict(failed)
    assert v.verdict is VerdictValue.invalid and "must learn" in (v.reason or "")
    assert failed.statuses["c"].value is StatusValue.untested  # counts on neither side
    passed = derive(make_kb(root, c), [run("r1", CLEAR, extra={"acc": 0.9})], info)
    assert verdict(passed).verdict is VerdictValue.holds


def test_an_inconclusive_verdict_says_how_many_seeds_would_decide_it(root: Path) -> None:
    c = claim("c", pred("p", "> 1"))
    v = verdict(derive(make_kb(root, c), [run("r1", [1.5, 0.9, 1.8])], EXPERIMENTS))
    assert v.verdict is VerdictValue.inconclusive
    assert v.seeds_needed is not None and v.seeds_needed > 3


@settings(max_examples=25, deadline=None)
@given(
    ours=st.lists(st.floats(0.5, 3.0), min_size=3, max_size=6),
    theirs=st.lists(st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=6), min_size=1, max_size=4),
)
def test_another_family_can_never_move_a_verdict(ours: list[float], theirs: list[list[float]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "repro").mkdir()
        (root / "repro" / "exp.py").write_text(SCRIPT)
        mine = [claim("ph", pred("p", "> 1")), claim("ex", pred("p", "> 0.5", metric="m1"), explains="ph")]
        alone = derive(make_kb(root, *mine), [run("r1", ours, extra={"m1": ours[0]})], EXPERIMENTS)
        others = [claim(f"o{i}", pred("p", "> 0", metric=f"o{i}")) for i in range(len(theirs))]
        records = [run("r1", ours, extra={"m1": ours[0]})] + [
            run(f"x{i}", vals, metric=f"o{i}", keys=[f"x{i}-{j}" for j in range(len(vals))])
            for i, vals in enumerate(theirs)
        ]
        together = derive(make_kb(root, *mine, *others), records, EXPERIMENTS)
        for key in (("ph", "p"), ("ex", "p")):
            assert together.verdicts[key] == alone.verdicts[key]
        assert together.statuses["ph"] == alone.statuses["ph"]


def test_claim_review_rates_only_what_is_at_least_low_certainty(root: Path) -> None:
    from kb.data.jsonld import claim_review

    c = claim("c", pred("p"), data_scale=["small"])
    status = derive(make_kb(root, c), [run("r1", CLEAR)], EXPERIMENTS).statuses["c"]
    assert status.certainty is Certainty.very_low
    rating = claim_review(c.model_copy(update={"status": status}), {}, "kb")["reviewRating"]
    assert "ratingValue" not in rating
    assert "Certainty: very low; evidence: toy reproduction." in rating["ratingExplanation"]
    literature = claim("l", stances=[("a", "proposes"), ("b", "supports")])
    status = derive(make_kb(root, literature), [], EXPERIMENTS).statuses["l"]
    rating = claim_review(literature.model_copy(update={"status": status}), {}, "kb")["reviewRating"]
    assert rating["ratingValue"] == 3 and "evidence: literature only" in rating["ratingExplanation"]


# ---- the stored status and the methodology -------------------------------------------------


def test_stale_statuses_compare_everything_and_reject_a_stored_history(root: Path) -> None:
    c = claim("c", pred())
    d = derive(make_kb(root, c), [run("r1", CLEAR)], EXPERIMENTS)
    derived = d.statuses["c"]
    assert [(cid, stored) for cid, stored, _ in stale_statuses(make_kb(root, c), d)] == [("c", None)]
    stored = c.model_copy(update={"status": derived})
    assert stale_statuses(make_kb(root, stored), d) == []
    # History is derived from git, never stored: a hand-written one is a difference.
    history = [StatusChange(date=dt.date(2026, 1, 2), status=StatusValue.supported, certainty=Certainty.high)]
    forged = c.model_copy(update={"status": derived.model_copy(update={"history": history})})
    assert [cid for cid, *_ in stale_statuses(make_kb(root, forged), d)] == ["c"]
    edited = derived.model_copy(update={"value": StatusValue.refuted})
    assert [cid for cid, *_ in stale_statuses(make_kb(root, c.model_copy(update={"status": edited})), d)] == ["c"]


def test_written_status_passes_the_check_and_a_hand_edit_fails_it(base_kb: Path) -> None:
    script = base_kb / "repro" / "demo_experiment.py"
    path = base_kb / "claims" / "demo" / "grows.yaml"
    path.write_text(
        "schema_version: 1\nid: grows\nkind: phenomenon\ntitle: It grows\nstatement: It grows.\n"
        "summary: It grows.\ntopic: demo\nsources:\n  - citekey: ioffe2015\n    stance: proposes\n"
        "    locator: Abstract\npredictions:\n  - id: p\n    statement: Up.\n"
        "    experiment: demo_experiment\n    metric: ratio\n    expect: '> 1'\n"
        "created: 2026-01-01\nupdated: 2026-01-01\n"
    )
    kb = load(base_kb)
    assert kb.errors == []
    experiments = {"demo_experiment": read_experiment(script, "repro/demo_experiment.py")}
    c = kb.claims["grows"].claim
    records = [run("r1", [1.23456, 1.3, 1.41, 1.2, 1.33], refs=[ref(c)], experiment="demo_experiment",
                   metric="ratio", script_sha=sha256_bytes(script.read_bytes()),
                   config=experiments["demo_experiment"].scales["smoke"])]
    d = derive(kb, records, experiments)
    assert d.statuses["grows"].verdicts[0].verdict is VerdictValue.holds
    for cid, _, status in stale_statuses(kb, d):
        write_status(base_kb / kb.claims[cid].file, status)
    kb = load(base_kb)
    assert stale_statuses(kb, derive(kb, records, experiments)) == []
    path.write_text(path.read_text().replace("verdict: holds", "verdict: fails"))
    kb = load(base_kb)
    assert [cid for cid, *_ in stale_statuses(kb, derive(kb, records, experiments))] == ["grows"]


def test_methodology_prints_the_rules_it_runs() -> None:
    text = methodology_markdown()
    for rule in STATUS_RULES:
        assert f"| {rule.when} | {rule.basis} | {rule.status.value} |" in text
    for step in CERTAINTY_RULES:
        assert f"| {step.name} | {step.change:+d} | {step.when} |" in text
    assert "fewer than 3 seed values" in text and "α = 0.05" in text
    assert "Student-t" in text and "Holm" in text and "between a b" in text


def test_verdict_reasons(root: Path) -> None:
    c = claim("c", pred("p"), pred("q", "< 1"), {"id": "o", "statement": "Later.", "open": True})
    d = derive(make_kb(root, c), [run("r1", CLEAR)], EXPERIMENTS)
    p, q, o = c.predictions
    assert verdict_reason(p, verdict(d, pid="p")).startswith("Holds: the 97.50% interval [")
    assert verdict_reason(q, verdict(d, pid="q")).startswith("Fails: the 95.00% interval [")
    assert "within its family" in verdict_reason(p, verdict(d, pid="p"))
    assert verdict_reason(o, verdict(d, pid="o")) == "Open: no experiment tests it yet."


def test_the_golden_base_derives(base_kb: Path) -> None:
    kb = load(base_kb)
    d = derive(kb, [], {})
    assert d.statuses["fast-training"].value is StatusValue.untested
    assert d.verdicts == {}


def test_prediction_hash_is_what_the_runs_record() -> None:
    # The staleness tests rely on this: the statement is not part of the hash.
    a = Prediction.model_validate(pred(statement="One."))
    b = Prediction.model_validate(pred(statement="Two."))
    assert prediction_sha256("c", a) == prediction_sha256("c", b)


@pytest.mark.parametrize("width", ["64", "[64, 512]"])
def test_a_regime_may_declare_the_widths_it_measured(tmp_path: Path, width: str) -> None:
    script = tmp_path / "exp.py"
    script.write_text('SCALES = {"smoke": {}, "full": {}}\nMETRICS = {"m": "a metric"}\n'
                      f'REGIME = {{"smoke": {{"data_scale": "toy", "width": {width}}}, '
                      '"full": {"data_scale": "small"}}\n')
    assert read_experiment(script, "repro/exp.py").regime["smoke"]["width"] == eval(width)


@pytest.mark.parametrize("width", ["0", "[512, 64]", "'wide'", "[1, 2, 3]", "True"])
def test_a_malformed_regime_width_is_a_located_error(tmp_path: Path, width: str) -> None:
    script = tmp_path / "exp.py"
    script.write_text('SCALES = {"smoke": {}, "full": {}}\nMETRICS = {"m": "a metric"}\n'
                      f'REGIME = {{"smoke": {{"data_scale": "toy", "width": {width}}}, '
                      '"full": {"data_scale": "small"}}\n')
    problems = [str(p) for p in read_experiment(script, "repro/exp.py").problems]
    assert problems[1:] == ["repro/exp.py:3:1: REGIME.smoke.width: must be a positive integer or [smallest, largest]"]
