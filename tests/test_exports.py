"""`kb export --format bibtex|jsonld` and `kb export-run` (Workflow Run RO-Crate), end to end."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import bibtexparser
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from support import BASE_KB, GOLDEN, assert_golden, explanation_yaml, run_kb

EXPLANATION = explanation_yaml()

# Cited by no claim, and using a @string macro: the BibTeX export must leave it out
# unless asked for all references, and keep the macro it needs when it is asked.
UNCITED = """
@string{jmlr = "Journal of Machine Learning Research"}

@article{uncited2020,
  title   = {{A Work Nobody Cites}},
  author  = {Doe, Jane},
  journal = jmlr,
  year    = {2020},
  doi     = {10.1000/example},
}
"""

SCHEMA_ORG = "https://schema.org"
S = "http://schema.org/"
WORKFLOW_RUN = "https://w3id.org/ro/wfrun/workflow/0.5"
PROCESS_RUN = "https://w3id.org/ro/wfrun/process/0.5"
WORKFLOW_RO_CRATE = "https://w3id.org/workflowhub/workflow-ro-crate/1.0"


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True)


def _make_kb(root: Path, git: bool = False) -> Path:
    """The base knowledge base, one testable explanation, an uncited entry and one run."""
    shutil.copytree(BASE_KB, root)
    (root / "claims/demo/because-big.yaml").write_text(EXPLANATION)
    bib = root / "claims/references.bib"
    bib.write_text(bib.read_text() + UNCITED)
    if git:
        _git(root, "init", "-q")
        _git(root, "add", "-A")
        _git(root, "commit", "-qm", "init")
    result = run_kb("run", "because-big", "--seeds", "3", "--device", "cpu", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


@pytest.fixture(scope="module")
def kb_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One knowledge base with a run, shared by the module: tests must not modify it."""
    return _make_kb(tmp_path_factory.mktemp("exports") / "kb")


def _record(root: Path) -> dict[str, Any]:
    (path,) = (root / "repro/runs/demo_experiment").glob("*.json")
    return dict(json.loads(path.read_text()))


# -- BibTeX ------------------------------------------------------------------------------


def _entries(text: str) -> dict[str, dict[str, str]]:
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    return {e.key: {f.key: f.value for f in e.fields} | {"@type": e.entry_type} for e in library.entries}


def test_bibtex_exports_the_cited_works_round_trippable(kb_root: Path, tmp_path: Path) -> None:
    result = run_kb("export", "--format", "bibtex", "--output", str(tmp_path / "out"), cwd=kb_root)
    assert result.returncode == 0, result.stderr
    assert f"wrote {tmp_path / 'out' / 'references.bib'}" in result.stdout
    assert "2 references" in result.stdout
    written = _entries((tmp_path / "out/references.bib").read_text())
    original = _entries((kb_root / "claims/references.bib").read_text())
    assert sorted(written) == ["ioffe2015", "santurkar2018"]
    assert all(written[key] == original[key] for key in written)  # every field survives as parsed


def test_bibtex_all_references_keeps_string_macros(kb_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_kb("export", "-f", "bibtex", "-o", str(out), "--all-references", cwd=kb_root)
    assert result.returncode == 0, result.stderr
    text = (out / "references.bib").read_text()
    written = _entries(text)
    assert sorted(written) == ["ioffe2015", "santurkar2018", "uncited2020"]
    assert written["uncited2020"]["journal"] == "Journal of Machine Learning Research"
    assert "@string{jmlr" in text


_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters='{}"\\%@#', exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    min_size=1,
    max_size=40,
).map(str.strip).filter(bool)
_NAME = st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True)
_ENTRY = st.tuples(
    st.sampled_from(["article", "inproceedings", "misc", "book", "techreport"]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9:_-]{0,15}", fullmatch=True),
    st.dictionaries(_NAME, _TEXT | _TEXT.map(lambda t: "{" + t + "}"), min_size=1, max_size=5),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_ENTRY, max_size=5, unique_by=lambda e: e[1].lower()))
def test_bibtex_writer_round_trips(entries: list[tuple[str, str, dict[str, str]]]) -> None:
    from bibtexparser.model import Entry, Field

    from kb.data.export import format_bibtex

    blocks = [Entry(kind, key, [Field(n, v) for n, v in fields.items()]) for kind, key, fields in entries]
    parsed = bibtexparser.parse_string(format_bibtex(blocks))
    assert not parsed.failed_blocks
    assert [(e.entry_type, e.key, {f.key: f.value for f in e.fields}) for e in parsed.entries] == [
        (kind, key, fields) for kind, key, fields in entries
    ]


# -- JSON-LD -----------------------------------------------------------------------------

# The part of schema.org's context the test needs, served locally: no test touches the network.
LOCAL_CONTEXT = {"@context": {"@vocab": S}}


def _offline_loader(url: str, options: object = None) -> dict[str, Any]:
    if url.rstrip("/") != SCHEMA_ORG:
        raise AssertionError(f"the JSON-LD processor tried to fetch {url}")
    return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url, "document": LOCAL_CONTEXT}


def _triples(doc: object) -> set[tuple[str, str, str]]:
    from pyld import jsonld

    dataset = jsonld.to_rdf(doc, {"documentLoader": _offline_loader})
    return {(t["subject"]["value"], t["predicate"]["value"], t["object"]["value"]) for t in dataset["@default"]}


def test_jsonld_is_valid_linked_data(kb_root: Path, tmp_path: Path) -> None:
    from pyld import jsonld

    result = run_kb("export", "--format", "jsonld", "--output", str(tmp_path), cwd=kb_root)
    assert result.returncode == 0, result.stderr
    assert "2 claims, 1 predictions, 2 references" in result.stdout
    doc = json.loads((tmp_path / "knowledge-base.jsonld").read_text())
    expanded = jsonld.expand(doc, {"documentLoader": _offline_loader})
    assert len(expanded) == 2 and all(n["@type"] == [S + "ClaimReview"] for n in expanded)

    triples = _triples(doc)

    def subjects(predicate: str, value: str) -> set[str]:
        return {s for s, p, o in triples if p == S + predicate and o == value}

    def objects(subject: str, predicate: str) -> set[str]:
        return {o for s, p, o in triples if s == subject and p == S + predicate}

    (claim,) = subjects("identifier", "because-big")
    ioffe, santurkar = "https://arxiv.org/abs/1502.03167", "https://arxiv.org/abs/1805.11604"
    assert objects(claim, "appearance") == {ioffe}  # the proposing work
    assert objects(claim, "citation") == {ioffe, santurkar}  # every work it cites
    assert (santurkar, S + "name", "How Does Batch Normalization Help Optimization?") in triples
    (arxiv,) = objects(santurkar, "identifier")
    assert objects(arxiv, "propertyID") == {"arXiv"} and objects(arxiv, "value") == {"1805.11604"}

    stored = yaml.safe_load((kb_root / "claims/demo/because-big.yaml").read_text())["status"]
    (review,) = subjects("itemReviewed", claim)
    (rating,) = objects(review, "reviewRating")
    assert objects(rating, "alternateName") == {stored["value"]}
    (explanation,) = objects(rating, "ratingExplanation")
    assert explanation.startswith(stored["reason"]) and f"Certainty: {stored['certainty']}" in explanation

    (prediction,) = objects(claim, "hasPart")
    assert objects(prediction, "identifier") == {"ratio-is-big"}
    (verdict,) = objects(prediction, "review")
    (verdict_rating,) = objects(verdict, "reviewRating")
    assert objects(verdict_rating, "alternateName") == {stored["verdicts"][0]["verdict"]}
    (test,) = objects(prediction, "about")
    assert objects(test, "propertyID") == {"ratio"} and objects(test, "description") == {"expected: > 1.5"}


def test_jsonld_keeps_unsafe_links_out() -> None:
    from kb.data.jsonld import article
    from kb.formats.bib import Reference

    ref = Reference("k", "misc", "T", ("Doe, Jane",), "2020", None, None, "javascript:alert(1)", None, 1)
    node = article(ref)
    assert "@id" not in node and "url" not in node
    assert node["author"] == [{"@type": "Person", "name": "Jane Doe"}]


@pytest.mark.parametrize("fmt, name", [("jsonld", "knowledge-base.jsonld"), ("bibtex", "references.bib")])
def test_export_of_the_base_knowledge_base_is_stable(base_kb: Path, tmp_path: Path, fmt: str, name: str) -> None:
    result = run_kb("export", "--format", fmt, "--output", str(tmp_path), cwd=base_kb)
    assert result.returncode == 0, result.stderr
    assert_golden((tmp_path / name).read_text(encoding="utf-8"), GOLDEN / "exports" / f"base-{name}")


# -- Workflow Run RO-Crate ---------------------------------------------------------------


def _ids(value: object) -> list[str]:
    """Ids of what a property refers to: the library resolves entities of the crate and
    leaves references to anything else (a vocabulary term, an outside URI) as strings."""
    items = value if isinstance(value, list) else [value]
    return [item if isinstance(item, str) else item.id for item in items]


def test_rocrate_of_a_run(kb_root: Path, tmp_path: Path) -> None:
    from rocrate.rocrate import ROCrate

    record = _record(kb_root)
    out = tmp_path / "crate"
    result = run_kb("export-run", "demo_experiment", "--output", str(out), cwd=kb_root)  # latest run
    assert result.returncode == 0, result.stderr
    assert f"run {record['id']} to {out}" in result.stdout and "8 files" in result.stdout

    crate = ROCrate(out)
    # Profile conformance, as the Workflow Run Crate 0.5 profile asks for it.
    assert set(_ids(crate.metadata["conformsTo"])) == {"https://w3id.org/ro/crate/1.1", WORKFLOW_RO_CRATE}
    assert set(_ids(crate.root_dataset["conformsTo"])) == {WORKFLOW_RUN, PROCESS_RUN, WORKFLOW_RO_CRATE}
    for uri, version in ((WORKFLOW_RUN, "0.5"), (PROCESS_RUN, "0.5"), (WORKFLOW_RO_CRATE, "1.0")):
        assert crate.get(uri).type == "CreativeWork" and crate.get(uri)["version"] == version

    workflow = crate.mainEntity
    assert workflow.id == "repro/demo_experiment.py"
    assert {"File", "SoftwareSourceCode", "ComputationalWorkflow"} <= set(workflow.type)
    script = (out / workflow.id).read_bytes()
    assert workflow["sha256"] == record["script_sha256"] == hashlib.sha256(script).hexdigest()
    assert workflow["programmingLanguage"]["version"] == record["packages"]["python"]
    packages = {p["name"]: p["version"] for p in workflow["softwareRequirements"]}
    assert packages == {k: v for k, v in record["packages"].items() if k != "python"}

    (action,) = crate.get_by_type("CreateAction")
    assert action.id in _ids(crate.root_dataset["mentions"])
    assert action["instrument"] is workflow
    assert _ids(action["actionStatus"]) == ["http://schema.org/CompletedActionStatus"]
    assert action["startTime"] == record["started"].replace("Z", "+00:00")
    assert action["endTime"] == record["finished"].replace("Z", "+00:00")
    assert _ids(action["object"]) == ["config.json", "#scale", "#seeds"]
    assert json.loads((out / "config.json").read_text()) == record["config"]
    assert crate.get("#seeds")["value"] == record["seeds"]
    run_file = f"repro/runs/demo_experiment/{record['id']}.json"
    seed_files = [f"results/seed-{r['seed']}.json" for r in record["results"]]
    assert _ids(action["result"]) == [run_file, *seed_files]
    assert json.loads((out / run_file).read_text()) == record
    for r, name in zip(record["results"], seed_files, strict=True):
        assert json.loads((out / name).read_text())["metrics"] == r["metrics"]

    (prediction,) = [crate.get(i) for i in _ids(crate.root_dataset["about"])]
    assert prediction.type == "Claim" and prediction["identifier"] == "ratio-is-big"
    assert prediction["sha256"] == record["predictions"][0]["sha256"]
    assert prediction["isPartOf"].id == "claims/demo/because-big.yaml"
    assert (out / "claims/demo/because-big.yaml").read_text() == (kb_root / "claims/demo/because-big.yaml").read_text()


def test_rocrate_by_run_id_replaces_an_earlier_crate(kb_root: Path, tmp_path: Path) -> None:
    run_id = _record(kb_root)["id"]
    out = tmp_path / "crate"
    assert run_kb("export-run", run_id, "-o", str(out), cwd=kb_root).returncode == 0
    (out / "stale.txt").write_text("left over from an earlier crate")
    assert run_kb("export-run", run_id, "-o", str(out), cwd=kb_root).returncode == 0
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["crate"]  # no temporary folder left behind


def test_rocrate_refuses_a_folder_that_is_not_a_crate(kb_root: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run_kb("export-run", "demo_experiment", "-o", str(tmp_path), cwd=kb_root)
    assert result.returncode == 1
    assert "is not empty and holds no RO-Crate" in result.stderr and "Traceback" not in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_rocrate_packages_the_script_that_ran(tmp_path: Path) -> None:
    root = _make_kb(tmp_path / "kb", git=True)
    script = root / "repro/demo_experiment.py"
    original = script.read_bytes()
    script.write_text(script.read_text() + "\n# edited after the run\n")
    out = tmp_path / "crate"
    assert run_kb("export-run", "demo_experiment", "-o", str(out), cwd=root).returncode == 0
    assert (out / "repro/demo_experiment.py").read_bytes() == original  # from the run's commit
    shutil.rmtree(root / ".git")  # now nothing holds the version that ran
    result = run_kb("export-run", "demo_experiment", "-o", str(tmp_path / "again"), cwd=root)
    assert result.returncode == 1 and "changed since run" in result.stderr
    assert not (tmp_path / "again").exists()


def test_rocrate_of_a_failed_run(kb_root: Path, tmp_path: Path) -> None:
    from rocrate.rocrate import ROCrate

    root = tmp_path / "kb"
    shutil.copytree(kb_root, root)
    record = _record(root)
    record["id"] = record["id"][:-6] + "faile0"
    record["outcome"] = "failed"
    for r in record["results"]:
        r.update(outcome="failed", reason="crash: exit code 1", metrics={})
    (root / f"repro/runs/demo_experiment/{record['id']}.json").write_text(json.dumps(record))
    out = tmp_path / "crate"
    result = run_kb("export-run", record["id"], "-o", str(out), cwd=root)
    assert result.returncode == 0, result.stderr
    (action,) = ROCrate(out).get_by_type("CreateAction")
    assert _ids(action["actionStatus"]) == ["http://schema.org/FailedActionStatus"]
    assert action["error"] == "every seed failed: crash: exit code 1"


def test_export_run_keeps_kb_help_light(kb_root: Path) -> None:
    code = (
        "import sys\nsys.argv = ['kb', '--help']\nfrom kb.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('LOADED=' + ','.join(m for m in ('rocrate', 'pyld', 'bibtexparser') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=kb_root, capture_output=True, text=True, timeout=60)
    assert result.stderr.rsplit("LOADED=", 1)[1].strip() == ""


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["export-run", "no-such-run", "-o", "{tmp}/out"], "no run record with id 'no-such-run'"),
        (["export", "-f", "csv", "--all-references", "-o", "{tmp}/out"], "--all-references only applies to --format bibtex"),
        (["export", "-f", "jsonld", "-o", "{tmp}/a-file/out"], "cannot write to"),
        (["export-run", "demo_experiment", "-o", "{tmp}/a-file/out"], "cannot write to"),
        (["export", "-f", "bibtex", "-o", "{tmp}/a-file"], "it is a file, not a folder"),
    ],
)
def test_bad_input_is_one_clear_error(kb_root: Path, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "a-file").write_text("")
    result = run_kb(*(a.format(tmp=tmp_path) for a in args), cwd=kb_root)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]  # nothing written, nothing left over


def test_unknown_format_is_a_usage_error(kb_root: Path) -> None:
    result = run_kb("export", "--format", "xml", cwd=kb_root)
    assert result.returncode == 2 and "bibtex" in result.stderr and "jsonld" in result.stderr


def test_failed_export_leaves_nothing_half_written(tmp_path: Path) -> None:
    from kb.data.export import staged
    from kb.formats.errors import KbError

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.csv").write_text("old")
    with pytest.raises(KbError), staged(out) as stage:
        (stage / "keep.csv").write_text("half")
        raise KbError("failed midway")
    assert (out / "keep.csv").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with staged(out) as stage:
        (stage / "keep.csv").write_text("new")
    assert (out / "keep.csv").read_text() == "new"
