"""User-facing problems and the one exception type the CLI renders.

The core never prints or exits. It either returns `Problem`s (validation collects all of
them, sorted, so a contributor sees everything wrong at once) or raises a `KbError`
subclass for a mistake that stops the command (an unknown claim id, a missing folder).
Real bugs are ordinary exceptions and keep their tracebacks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    error = "error"
    warning = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the knowledge base, located like a compiler error."""

    file: str  # relative to the knowledge-base root, with forward slashes
    line: int  # 1-based; 0 when the problem concerns the whole file
    column: int  # 1-based; 0 when unknown
    field: str  # dotted field path such as "sources[1].stance", or "" for the file itself
    message: str
    severity: Severity = Severity.error

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}"
        field = f" {self.field}:" if self.field else ""
        tag = " warning:" if self.severity is Severity.warning else ""
        return f"{where}:{tag}{field} {self.message}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class KbError(Exception):
    """A user mistake: the CLI prints the message (and any problems) and exits non-zero."""

    exit_code = 1

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = sorted(problems or [])


class UnknownClaim(KbError):
    """Raised by queries given an id that no claim has (with the nearest ids as hints)."""


class NotAKnowledgeBase(KbError):
    """Raised when no `claims/` folder is found at or above the working directory."""


class InvalidKnowledgeBase(KbError):
    """Raised by commands that need a valid knowledge base (show, run) when it has errors."""


def relative(path: Path, root: Path) -> str:
    """Path as shown in messages: relative to the root when inside it, always with '/'."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
