"""A knowledge base's own content rules, checked by `kb check`.

Some rules are editorial choices of one knowledge base rather than facts about the file
format: this repository asks that every phenomenon have competing explanations and that
every explanation cite more than its proposer. A knowledge base states them in
`[tool.kb.rules]` of its `pyproject.toml`, or `[rules]` of a `kb.toml` at its root (which
wins when both exist); every rule is off unless it is set:

    [tool.kb.rules]
    min_explanations = 2      # per phenomenon, competing explanations
    min_sources = 2           # per explanation, sources of any stance
    require_proposer = true   # an explanation cites a work that proposes it
    require_prediction = true # an explanation states at least one prediction
    severity = "error"        # or "warning": report without failing `kb check`

A claim that breaks a rule gets one problem at its `id:` line, naming the rule and the
file that sets it. A settings table that cannot be read (bad TOML, an unknown key, a value
of the wrong type) is itself an error at its line, with the nearest known key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from kb.checking.knowledge import KnowledgeBase, LoadedClaim
from kb.formats.diagnose import suggest, toml_line_of
from kb.formats.errors import Problem, Severity
from kb.formats.schema import Kind, Origin, Stance

SOURCES = (("kb.toml", "rules"), ("pyproject.toml", "tool.kb.rules"))


@dataclass(frozen=True)
class Rules:
    """The content rules of one knowledge base; the defaults check nothing."""

    min_explanations: int = 0
    min_sources: int = 0
    require_proposer: bool = False
    require_prediction: bool = False
    severity: str = "error"
    where: str = ""  # the file and table that set them, for messages

    @property
    def enabled(self) -> bool:
        return bool(
            self.min_explanations
            or self.min_sources
            or self.require_proposer
            or self.require_prediction
        )


KNOWN = [f.name for f in fields(Rules) if f.name != "where"]
_TYPES: dict[str, type] = {"min_explanations": int, "min_sources": int, "severity": str}


def load_rules(root: Path) -> tuple[Rules, list[Problem]]:
    """The rules configured at `root`, and the problems of the table that sets them."""
    for name, header in SOURCES:
        path = root / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return Rules(), [Problem(name, 0, 0, "", f"cannot read the kb settings: {exc}")]
        table: Any = data
        for part in header.split("."):
            table = table.get(part, {}) if isinstance(table, dict) else {}
        if not isinstance(table, dict) or not table:
            continue
        problems = [
            _at(text, name, header, key, message)
            for key, message in _table_problems(table).items()
        ]
        if problems:
            return Rules(), problems
        return Rules(**table, where=f"[{header}] in {name}"), []
    return Rules(), []


def _table_problems(table: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in table.items():
        kind = _TYPES.get(key, bool)
        if key not in KNOWN:
            out[key] = f"unknown key (known: {', '.join(KNOWN)}){suggest(key, KNOWN)}"
        elif kind is str and value not in ("error", "warning"):
            out[key] = f"must be 'error' or 'warning', not {value!r}"
        elif kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            out[key] = f"must be a whole number, 0 or more, not {value!r}"
        elif kind is bool and not isinstance(value, bool):
            out[key] = f"must be true or false, not {value!r}"
    return out


def _at(text: str, file: str, header: str, key: str, message: str) -> Problem:
    line = toml_line_of(text, header, key)
    return Problem(file, line, 1 if line else 0, f"{header}.{key}", message)


def content_rules(kb: KnowledgeBase) -> list[Problem]:
    """One problem per claim that breaks a rule the knowledge base configures."""
    rules, problems = load_rules(kb.root)
    if not rules.enabled:
        return problems
    severity = Severity(rules.severity)
    explanations: dict[str, list[str]] = {}
    for loaded in kb.claims.values():
        if loaded.claim.explains is not None:
            explanations.setdefault(loaded.claim.explains, []).append(loaded.claim.id)
    out = []
    for loaded in kb.claims.values():
        for broken in _broken(loaded, rules, explanations):
            out.append(loaded.problem_at_key("id", f"{broken} ({rules.where})", severity))
    return out


def _broken(loaded: LoadedClaim, rules: Rules, explanations: dict[str, list[str]]) -> list[str]:
    claim = loaded.claim
    out = []
    if claim.kind is Kind.phenomenon:
        found = sorted(explanations.get(claim.id, []))
        if len(found) < rules.min_explanations:
            have = f"{len(found)} ({', '.join(found)})" if found else "none"
            out.append(
                f"a phenomenon needs at least {rules.min_explanations} competing explanations "
                f"(claims with 'explains: {claim.id}'); it has {have}"
            )
        return out
    if len(claim.sources) < rules.min_sources:
        out.append(
            f"an explanation needs at least {rules.min_sources} sources; it has "
            f"{len(claim.sources)}: cite work that tests it, not only the one that proposes it"
        )
    # A claim this project originates has no proposing work by definition (see its `origin`).
    originated = claim.origin is Origin.this_project
    if rules.require_proposer and not originated and all(
        s.stance is not Stance.proposes for s in claim.sources
    ):
        out.append("an explanation cites the work that proposes it (a source with 'stance: proposes')")
    if rules.require_prediction and not claim.predictions:
        out.append("an explanation states at least one prediction (what would be observed if it holds)")
    return out
