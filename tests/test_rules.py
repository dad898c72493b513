"""A knowledge base's own content rules ([tool.kb.rules] or kb.toml [rules]) in `kb check`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from support import REPO, explanation_yaml, run_kb

from kb.checking.load import load
from kb.checking.rules import Rules, load_rules

RULES = """\
[project]
name = "someone-elses-kb"

[tool.kb.rules]
min_explanations = 2
min_sources = 2
require_proposer = true
require_prediction = true
"""


def test_rules_are_off_by_default(base_kb: Path) -> None:
    # The base knowledge base has a phenomenon with no explanation at all.
    assert load_rules(base_kb) == (Rules(), [])
    result = run_kb("check", cwd=base_kb)
    assert result.returncode == 0, result.stdout


def test_a_phenomenon_without_competing_explanations(base_kb: Path) -> None:
    (base_kb / "pyproject.toml").write_text(RULES)
    (base_kb / "claims/demo/because-big.yaml").write_text(explanation_yaml())
    result = run_kb("check", cwd=base_kb)
    assert result.returncode == 1
    assert (
        "claims/demo/fast-training.yaml:2:5: id: a phenomenon needs at least 2 competing "
        "explanations (claims with 'explains: fast-training'); it has 1 (because-big) "
        "([tool.kb.rules] in pyproject.toml)"
    ) in result.stdout.splitlines()


def test_an_explanation_with_one_source_no_proposer_and_no_prediction(base_kb: Path) -> None:
    (base_kb / "pyproject.toml").write_text(RULES.replace("min_explanations = 2", ""))
    text = explanation_yaml()
    text = text[: text.index("  - citekey: ioffe2015")] + (
        "  - citekey: santurkar2018\n    stance: refutes\n    locator: Sec. 2.1\n"
        "predictions: []\ncreated: 2026-01-01\nupdated: 2026-01-01\n"
    )
    (base_kb / "claims/demo/because-big.yaml").write_text(text)
    found = [str(p) for p in load(base_kb).problems if p.field == "id"]
    assert found == sorted(
        [
            "claims/demo/because-big.yaml:2:5: id: an explanation needs at least 2 sources; it has 1: "
            "cite work that tests it, not only the one that proposes it ([tool.kb.rules] in pyproject.toml)",
            "claims/demo/because-big.yaml:2:5: id: an explanation cites the work that proposes it "
            "(a source with 'stance: proposes') ([tool.kb.rules] in pyproject.toml)",
            "claims/demo/because-big.yaml:2:5: id: an explanation states at least one prediction "
            "(what would be observed if it holds) ([tool.kb.rules] in pyproject.toml)",
        ]
    )


def test_kb_toml_wins_and_may_make_them_warnings(base_kb: Path) -> None:
    (base_kb / "pyproject.toml").write_text(RULES)
    (base_kb / "kb.toml").write_text('[rules]\nmin_explanations = 1\nseverity = "warning"\n')
    result = run_kb("check", cwd=base_kb)
    assert result.returncode == 0, result.stdout
    assert (
        "claims/demo/fast-training.yaml:2:5: warning: id: a phenomenon needs at least 1 "
        "competing explanations (claims with 'explains: fast-training'); it has none "
        "([rules] in kb.toml)"
    ) in result.stdout


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "min_explanation = 2",
            "pyproject.toml:2:1: tool.kb.rules.min_explanation: unknown key (known: "
            "min_explanations, min_sources, require_proposer, require_prediction, severity); "
            "did you mean 'min_explanations'?",
        ),
        (
            'min_sources = "two"',
            "pyproject.toml:2:1: tool.kb.rules.min_sources: must be a whole number, 0 or more, not 'two'",
        ),
        (
            "require_proposer = 1",
            "pyproject.toml:2:1: tool.kb.rules.require_proposer: must be true or false, not 1",
        ),
        (
            'severity = "fatal"',
            "pyproject.toml:2:1: tool.kb.rules.severity: must be 'error' or 'warning', not 'fatal'",
        ),
    ],
)
def test_bad_settings_are_located(base_kb: Path, line: str, expected: str) -> None:
    (base_kb / "pyproject.toml").write_text(f"[tool.kb.rules]\n{line}\n")
    result = run_kb("check", cwd=base_kb)
    assert result.returncode == 1
    assert expected in result.stdout.splitlines()


def test_this_repository_turns_its_rules_on() -> None:
    rules, problems = load_rules(REPO)
    assert problems == []
    assert rules.min_explanations == 2 and rules.min_sources == 2
    assert rules.require_proposer and rules.require_prediction and rules.severity == "error"


def test_the_example_in_contributing_is_what_kb_check_prints(tmp_path: Path) -> None:
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"^`(claims/\S+: id: a phenomenon needs .*)`\.$", text, re.M)
    root = tmp_path / "kb"
    for name in ("claims", "repro"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root)
    # Leave bn-reduces-ics as the only explanation of bn-speeds-training.
    for path in root.glob("claims/*/*.yaml"):
        text = path.read_text(encoding="utf-8")
        if "\nexplains: bn-speeds-training\n" in text and path.stem != "bn-reduces-ics":
            path.unlink()
    assert example in [str(p) for p in load(root).problems]
