"""`kb new claim` and `kb new experiment`: the core (kb/scaffold/) and the command line."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import kb_executable, run_kb

from kb.checking.load import load
from kb.formats import yamlfile
from kb.formats.experiment import read_experiment
from kb.formats.schema import Claim, Kind
from kb.scaffold.claim import (
    MODELINE,
    Citation,
    ClaimDraft,
    PredictionDraft,
    ScaffoldError,
    claim_data,
    claim_yaml,
    new_claim,
    title_from,
)
from kb.scaffold.experiment import new_experiment

TODAY = dt.date(2026, 3, 1)


def draft(**changes: object) -> ClaimDraft:
    fields: dict[str, object] = {
        "id": "noise-helps",
        "kind": Kind.explanation,
        "explains": "fast-training",
        "topic": "demo",
        "title": "Noise helps",
        "statement": "Training is fast because the batch noise helps.",
        "summary": "A summary.",
        "sources": [Citation("ioffe2015", "Sec. 3")],
        "prediction": PredictionDraft("ratio-above-one", "The ratio exceeds one.", metric="ratio", expect="> 1"),
    }
    fields.update(changes)
    return ClaimDraft(**fields)  # type: ignore[arg-type]


def errors(root: Path) -> list[str]:
    return [str(p) for p in load(root).errors]


# --- the YAML ------------------------------------------------------------------------


yaml_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=300).filter(
    lambda s: s.strip() != ""
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(statement=yaml_text, title=yaml_text, locator=yaml_text)
def test_any_user_text_reads_back_exactly(statement: str, title: str, locator: str) -> None:
    d = draft(statement=statement, title=title, sources=[Citation("ioffe2015", locator)])
    data = claim_data(d, TODAY)
    text = claim_yaml(data)  # raises if the emitted YAML does not read back as written
    assert text.startswith(MODELINE)
    claim = Claim.model_validate(yamlfile.parse(text.encode()).data)
    assert (claim.statement, claim.title, claim.sources[0].locator) == (statement, title, locator)


def test_text_that_looks_like_yaml_stays_text() -> None:
    tricky = 'yes: no\n- [a, b]\n&anchor *alias !!python/object "quoted" # not a comment'
    data = claim_data(draft(statement=tricky, summary="null", title="2026-01-01"), TODAY)
    parsed = yamlfile.parse(claim_yaml(data).encode()).data
    assert (parsed["statement"], parsed["summary"], parsed["title"]) == (tricky, "null", "2026-01-01")


def test_title_from_the_first_sentence() -> None:
    assert title_from("BN helps. It does so by smoothing.") == "BN helps"
    long = "word " * 100
    assert len(title_from(long)) <= 300 and title_from(long).endswith("…")


# --- new claims ----------------------------------------------------------------------


def test_new_claim_is_valid_with_its_status(base_kb: Path) -> None:
    result = new_claim(base_kb, draft(), TODAY)
    assert result.file == "claims/demo/noise-helps.yaml" and result.stubs == []
    text = result.path.read_text(encoding="utf-8")
    assert text.startswith(MODELINE) and "\nstatus:\n" in text and "&id" not in text
    kb = load(base_kb)
    assert errors(base_kb) == []
    claim = kb.claims["noise-helps"].claim
    assert claim.explains == "fast-training" and claim.created == TODAY
    assert claim.predictions[0].open and claim.predictions[0].registered == TODAY


def test_new_claim_linked_to_an_existing_experiment(base_kb: Path) -> None:
    linked = PredictionDraft("p", "The ratio exceeds one.", "demo_experiment", "ratio", "> 1")
    new_claim(base_kb, draft(prediction=linked), TODAY)
    assert errors(base_kb) == []
    assert load(base_kb).claims["noise-helps"].claim.predictions[0].experiment == "demo_experiment"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "Noise_Helps"}, "id 'Noise_Helps' is not a lowercase slug"),
        ({"id": "fast-training"}, "id 'fast-training' is already used by claims/demo/fast-training.yaml"),
        ({"topic": "De mo"}, "topic 'De mo' is not a lowercase slug"),
        ({"explains": "fast-trainin"}, "did you mean 'fast-training'?"),
        ({"explains": None}, "an explanation needs --explains"),
        ({"kind": Kind.phenomenon}, "a phenomenon explains nothing"),
        ({"sources": [Citation("not a key", "x")]}, "is not a BibTeX key"),
        (
            {"prediction": PredictionDraft("p", "s", "no_such_script", "ratio", "> 1")},
            "create it first with `kb new experiment no_such_script`",
        ),
        (
            {"prediction": PredictionDraft("p", "s", "demo_experiment", "ratoi", "> 1")},
            "did you mean 'ratio'?",
        ),
    ],
)
def test_bad_input_writes_nothing(base_kb: Path, changes: dict[str, object], message: str) -> None:
    before = sorted(p.relative_to(base_kb) for p in base_kb.rglob("*"))
    bib = (base_kb / "claims/references.bib").read_text(encoding="utf-8")
    with pytest.raises(ScaffoldError, match=re.escape(message)):
        new_claim(base_kb, draft(**changes), TODAY)
    assert sorted(p.relative_to(base_kb) for p in base_kb.rglob("*")) == before
    assert (base_kb / "claims/references.bib").read_text(encoding="utf-8") == bib


def test_schema_rules_are_reported_by_field(base_kb: Path) -> None:
    bad = PredictionDraft("p", "s", metric="ratio", expect="more than one")
    with pytest.raises(ScaffoldError) as caught:
        new_claim(base_kb, draft(prediction=bad, statement="x" * 6000), TODAY)
    fields = {p.field for p in caught.value.problems}
    assert fields == {"statement", "predictions[0].expect"}
    assert not (base_kb / "claims/demo/noise-helps.yaml").exists()


def test_an_existing_file_is_never_overwritten(base_kb: Path) -> None:
    target = base_kb / "claims/demo/noise-helps.yaml"
    target.write_text("not a claim yet\n", encoding="utf-8")
    with pytest.raises(ScaffoldError, match=re.escape("claims/demo/noise-helps.yaml already exists")):
        new_claim(base_kb, draft(), TODAY)
    assert target.read_text(encoding="utf-8") == "not a claim yet\n"


def test_unknown_citekeys_get_stubs_that_check_rejects(base_kb: Path) -> None:
    sources = [Citation("smith2099", "Fig. 2"), Citation("ioffe2015", "Abstract", "discusses")]
    result = new_claim(base_kb, draft(sources=sources), TODAY)
    [stub] = result.stubs
    bib = (base_kb / "claims/references.bib").read_text(encoding="utf-8")
    assert bib.splitlines()[stub.line - 1] == "@misc{smith2099,"
    assert sorted(errors(base_kb)) == [
        f"claims/references.bib:{stub.line}:1: @misc{{smith2099}}: {message}"
        for message in (
            "missing field 'author'",
            "missing field 'title'",
            "missing field 'year'",
            "needs one of doi, eprint or url to find the work",
        )
    ]
    filled = bib.replace("title  = {}", "title  = {A Paper}").replace("author = {}", "author = {Smith, Ann}")
    filled = filled.replace("year   = {}", "year   = {2099}").replace("url    = {}", "url    = {https://example.org/p}")
    (base_kb / "claims/references.bib").write_text(filled, encoding="utf-8")
    assert errors(base_kb) == []


# --- new experiments -----------------------------------------------------------------


def test_new_experiment_follows_the_contract(base_kb: Path) -> None:
    result = new_experiment(base_kb, "my_probe")
    info = read_experiment(result.path, result.file)
    assert info.problems == []
    assert set(info.scales) == {"smoke", "full"}
    assert set(info.metrics) == {"test_accuracy", "scaffold_unedited"}
    assert set(info.validity) == {"template_replaced"}  # an unedited template gives no verdict
    source = result.path.read_text(encoding="utf-8")
    assert "from kb.lab." in source and "Reproduces:" in source and "Tests:" in source
    assert errors(base_kb) == []


def test_linking_declares_the_metric_and_names_the_experiment(base_kb: Path) -> None:
    new_claim(base_kb, draft(), TODAY)
    claim_file = base_kb / "claims/demo/noise-helps.yaml"
    before = claim_file.read_text(encoding="utf-8")
    result = new_experiment(base_kb, "noise_probe", "noise-helps", "ratio-above-one")
    assert result.linked == "claims/demo/noise-helps.yaml"
    assert set(read_experiment(result.path, result.file).metrics) == {
        "test_accuracy",
        "ratio",
        "scaffold_unedited",
    }
    after = claim_file.read_text(encoding="utf-8")
    assert after == before.replace("    open: true\n", "    experiment: noise_probe\n")
    assert "noise-helps / ratio-above-one   (ratio > 1)" in result.path.read_text(encoding="utf-8")
    assert errors(base_kb) == []


@pytest.mark.parametrize(
    ("name", "claim", "prediction", "message"),
    [
        ("Bad-Name", None, None, "must be a Python module name"),
        ("demo_experiment", None, None, "repro/demo_experiment.py already exists"),
        ("probe", "noise-helps", None, "give both --claim and --prediction"),
        ("probe", "noise-help", "ratio-above-one", "did you mean 'noise-helps'?"),
        ("probe", "noise-helps", "ratio-above-on", "did you mean 'ratio-above-one'?"),
        ("probe", "fast-training", "x", "has no prediction 'x' (it has none)"),
    ],
)
def test_bad_experiment_input_writes_nothing(
    base_kb: Path, name: str, claim: str | None, prediction: str | None, message: str
) -> None:
    new_claim(base_kb, draft(), TODAY)
    before = {p: p.read_bytes() for p in base_kb.rglob("*") if p.is_file()}
    with pytest.raises(Exception, match=re.escape(message)):
        new_experiment(base_kb, name, claim, prediction)
    assert {p: p.read_bytes() for p in base_kb.rglob("*") if p.is_file()} == before


def test_a_prediction_without_metric_cannot_be_linked(base_kb: Path) -> None:
    new_claim(base_kb, draft(prediction=PredictionDraft("vague", "Something changes.")), TODAY)
    with pytest.raises(ScaffoldError, match="needs a metric and an expected outcome"):
        new_experiment(base_kb, "probe", "noise-helps", "vague")
    assert not (base_kb / "repro/probe.py").exists()


# --- the command line ----------------------------------------------------------------

FLAGS = [
    "--id", "noise-helps", "--kind", "explanation", "--explains", "fast-training",
    "--topic", "demo", "--statement", "Training is fast: the batch noise helps.",
    "--summary", "A summary.", "--cite", "ioffe2015", "--locator", "Sec. 3",
    "--prediction", "The ratio exceeds one.", "--metric", "ratio", "--expect", "> 1",
]  # fmt: skip


def test_cli_new_claim_then_check_passes(base_kb: Path) -> None:
    result = run_kb("new", "claim", *FLAGS, cwd=base_kb)
    assert result.returncode == 0, result.stderr
    assert "created claims/demo/noise-helps.yaml" in result.stdout
    check = run_kb("check", cwd=base_kb)
    assert check.returncode == 0, check.stdout
    assert "0 error(s), 1 warning(s)" in check.stdout  # santurkar2018 is still uncited


@pytest.mark.parametrize("no_input", [[], ["--no-input"]])
def test_cli_without_a_terminal_a_missing_value_is_an_error(base_kb: Path, no_input: list[str]) -> None:
    flags = FLAGS[: FLAGS.index("--summary")]  # no summary, no source, no prediction
    result = run_kb("new", "claim", *flags, *no_input, cwd=base_kb)
    assert result.returncode == 1
    assert "error: missing --summary (prompted for only when stdin is a terminal)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (base_kb / "claims/demo/noise-helps.yaml").exists()


def test_cli_refuses_an_existing_id_and_prints_stub_instructions(base_kb: Path) -> None:
    flags = [*FLAGS, "--cite", "smith2099", "--locator", "Fig. 1"]
    result = run_kb("new", "claim", *flags, cwd=base_kb)
    assert result.returncode == 0, result.stderr
    assert re.search(r"claims/references.bib:\d+: complete @misc\{smith2099\}: title, author, year", result.stdout)
    assert run_kb("check", cwd=base_kb).returncode == 1  # until the stub is filled in
    again = run_kb("new", "claim", *FLAGS, cwd=base_kb)
    assert again.returncode == 1
    assert "error: id 'noise-helps' is already used by claims/demo/noise-helps.yaml" in again.stderr


def test_cli_new_experiment_linked(base_kb: Path) -> None:
    assert run_kb("new", "claim", *FLAGS, cwd=base_kb).returncode == 0
    result = run_kb("new", "experiment", "noise_probe", "--claim", "noise-helps", "--prediction", "first", cwd=base_kb)
    assert result.returncode == 0, result.stderr
    assert "created repro/noise_probe.py" in result.stdout
    assert "linked: its prediction in claims/demo/noise-helps.yaml now names it" in result.stdout
    assert run_kb("check", cwd=base_kb).returncode == 0


def test_cli_help_lists_new(base_kb: Path) -> None:
    result = run_kb("new", "--help", cwd=base_kb)
    assert result.returncode == 0 and "claim" in result.stdout and "experiment" in result.stdout


def test_cli_prompts_for_missing_values_at_a_terminal(base_kb: Path) -> None:
    import os
    import pty
    import select

    dialogue = [
        ("Kind", "explanation"),
        ("Id of the phenomenon", "fast-training"),
        ("Id (lowercase slug)", "asked-claim"),
        ("Topic", "demo"),
        ("Statement", "Things are fast."),
        ("Title [Things are fast]", ""),  # the default
        ("Summary", "A summary."),
        ("Citekey", "ioffe2015"),
        ("Where in ioffe2015", "Sec. 2"),
        ("First prediction", "It is fast."),
    ]
    pid, fd = pty.fork()
    if pid == 0:  # the child: kb at a terminal, in the knowledge base
        os.chdir(base_kb)
        os.execv(kb_executable(), ["kb", "new", "claim"])
    seen = b""
    try:
        for prompt, answer in dialogue:
            while prompt.encode() not in seen:
                ready, _, _ = select.select([fd], [], [], 30)
                assert ready, f"no prompt {prompt!r}; saw {seen.decode(errors='replace')!r}"
                seen += os.read(fd, 4096)
            seen = b""
            os.write(fd, answer.encode() + b"\r")
        while True:
            ready, _, _ = select.select([fd], [], [], 30)
            try:
                chunk = os.read(fd, 4096) if ready else b""
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen.decode(errors="replace")
    assert b"created claims/demo/asked-claim.yaml" in seen
    claim = load(base_kb).claims["asked-claim"].claim
    assert (claim.title, claim.explains, claim.sources[0].locator) == ("Things are fast", "fast-training", "Sec. 2")
