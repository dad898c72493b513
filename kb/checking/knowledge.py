"""The knowledge base in memory: its claims, references, experiments and the problems found.

`kb.checking.load` builds a `KnowledgeBase`; everything above the checking layer reads one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kb.formats import yamlfile
from kb.formats.bib import Reference
from kb.formats.diagnose import field_path, suggest
from kb.formats.errors import InvalidKnowledgeBase, Problem, Severity, UnknownClaim
from kb.formats.experiment import ExperimentInfo
from kb.formats.schema import Claim
from kb.formats.yamlfile import YamlDocument

CLAIMS_DIR = "claims"
REFERENCES_FILE = "claims/references.bib"
REPRO_DIR = "repro"


@dataclass
class LoadedClaim:
    claim: Claim
    file: str  # relative to the root, '/'-separated
    path: Path
    _doc: YamlDocument | None = field(default=None, repr=False)

    @property
    def doc(self) -> YamlDocument:
        """The file's node tree, re-read on demand: keeping every tree alive would make a
        large knowledge base slow (the garbage collector walks them all) to locate the rare
        cross-file problem."""
        if self._doc is None:
            self._doc = yamlfile.parse(self.path.read_bytes())
        return self._doc

    def problem_at_key(self, key: str, message: str, severity: Severity) -> Problem:
        """The problem at a top-level key's value, found by a scan of the bytes.

        Parsing the file again (what `problem` does) costs a quarter of a millisecond, and a
        knowledge base made from a template can have thousands of such problems. The scan
        finds the same place as the parser whenever the value starts on the key's line;
        otherwise (a flow mapping, the value on the next line) the parser decides.
        """
        try:
            raw = self.path.read_bytes()
        except OSError:
            raw = b""
        found = re.search(rb"^" + re.escape(key.encode()) + rb":[ \t]*(?=[^ \t\r\n#])", raw, re.M)
        if found is None:
            return self.problem((key,), message, severity=severity)
        line = raw.count(b"\n", 0, found.start()) + 1
        return Problem(self.file, line, found.end() - found.start() + 1, key, message, severity)

    def problem(
        self,
        path: tuple[str | int, ...],
        message: str,
        *,
        key: bool = False,
        severity: Severity = Severity.error,
    ) -> Problem:
        mark = self.doc.mark_of(path, key=key)
        return Problem(self.file, mark.line, mark.column, field_path(path), message, severity)


@dataclass
class KnowledgeBase:
    root: Path
    claims: dict[str, LoadedClaim] = field(default_factory=dict)
    references: dict[str, Reference] = field(default_factory=dict)
    experiments: dict[str, Path] = field(default_factory=dict)
    experiment_info: dict[str, ExperimentInfo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files_checked: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.warning]

    def require_valid(self) -> None:
        if self.errors:
            raise InvalidKnowledgeBase(
                f"the knowledge base has {len(self.errors)} error(s); run `kb check`", self.errors
            )

    def get(self, claim_id: str) -> LoadedClaim:
        if claim_id not in self.claims:
            hint = suggest(claim_id, self.claims)
            raise UnknownClaim(f"no claim with id '{claim_id}'{hint}")
        return self.claims[claim_id]

    def explanations_of(self, phenomenon_id: str) -> list[Claim]:
        return sorted(
            (c.claim for c in self.claims.values() if c.claim.explains == phenomenon_id),
            key=lambda c: c.id,
        )

    def competitors(self, claim: Claim) -> list[Claim]:
        """Other explanations of the same phenomenon."""
        if claim.explains is None:
            return []
        return [c for c in self.explanations_of(claim.explains) if c.id != claim.id]


