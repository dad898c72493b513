"""Settings for `kb run --executor slurm`, from the knowledge base's own files.

Read from `[tool.kb.slurm]` in the knowledge base's `pyproject.toml`, or `[slurm]` in a
`kb.toml` at its root (both with tomllib; `kb.toml` wins when both exist). Command-line
flags override them. An unknown key is an error naming the file, the line where it is
found and the nearest known key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from kb.formats.diagnose import suggest, toml_line_of
from kb.formats.errors import KbError, Problem


@dataclass(frozen=True)
class SlurmSettings:
    """What a Slurm (or submitit-local) submission asks for; None leaves it to the cluster."""

    partition: str | None = None
    account: str | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    mem: str | None = None  # a Slurm size ("16G", "4096M"); a bare number is MiB
    time: float = 60.0  # minutes; a seed that reaches it is checkpointed and requeued
    array_parallelism: int = 256  # array elements running at once
    setup: list[str] = field(default_factory=list)  # shell lines before the job, e.g. module load
    signal_delay_s: int = 90  # seconds before the time limit at which a job is told to requeue
    max_requeues: int = 3  # time-limit requeues per seed before it is recorded as failed

    def merged(self, **flags: Any) -> SlurmSettings:
        """These settings with every flag that was given (not None) taking precedence."""
        given = {k: v for k, v in flags.items() if v is not None and v != []}
        if "setup" in given:
            given["setup"] = [*self.setup, *given["setup"]]
        settings = replace(self, **given)
        settings.check()
        return settings

    def check(self, where: str = "the command line") -> None:
        problems = []
        for name in ("gpus_per_task", "cpus_per_task", "array_parallelism", "max_requeues"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                problems.append(f"{name} must be a non-negative whole number, got {value!r}")
        if not isinstance(self.time, int | float) or self.time <= 0:
            problems.append(f"time must be a positive number of minutes, got {self.time!r}")
        if self.mem is not None and not re.fullmatch(r"\d+[KMGT]?B?", str(self.mem), re.I):
            problems.append(f"mem must be MiB or a Slurm size such as 16G, got {self.mem!r}")
        if not isinstance(self.setup, list) or not all(isinstance(s, str) for s in self.setup):
            problems.append("setup must be a list of shell lines")
        if problems:
            raise KbError(f"invalid Slurm settings in {where}: " + "; ".join(problems))

    @property
    def slurm_mem(self) -> str | None:
        """`mem` as sbatch takes it: a bare number means MiB here, as for `--memory`."""
        if self.mem is None:
            return None
        text = str(self.mem)
        return f"{text}M" if text.isdigit() else text


KNOWN = [f.name for f in fields(SlurmSettings)]


def load_settings(root: Path) -> SlurmSettings:
    """Slurm settings of the knowledge base at `root` (defaults when it configures none)."""
    for name, header in (("kb.toml", "slurm"), ("pyproject.toml", "tool.kb.slurm")):
        path = root / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise KbError(f"{name}: not valid TOML: {exc}") from None
        table: Any = data
        for part in header.split("."):
            table = table.get(part, {}) if isinstance(table, dict) else {}
        if not table:
            continue
        problems = []
        for key in (k for k in table if k not in KNOWN):
            line = toml_line_of(text, header, key)
            problems.append(
                Problem(
                    name,
                    line,
                    1 if line else 0,
                    f"{header}.{key}",
                    f"unknown key (known: {', '.join(KNOWN)}){suggest(key, KNOWN)}",
                )
            )
        if problems:
            raise KbError(f"{name}: [{header}] has unknown keys", problems)
        settings = SlurmSettings(**table)
        settings.check(f"{name} [{header}]")
        return settings
    return SlurmSettings()
