"""The claim-file cache: each file's parse and validation result, keyed by its content.

`kb check` on a large knowledge base spends most of its time parsing YAML and validating
claims that did not change since the last run. The cache (`.kb/cache/claims.json`, never
committed) maps each claim file to the blake2b hash of its bytes and what `read_claim`
made of them: the validated claim, or none, and the file's own problems. A file is reused
only when its bytes hash the same and the cache was written by the same kb (`version_key`:
kb's source, pydantic, PyYAML and Python), so an upgrade or an edited validator empties it.
Cross-file checks and status derivation always run on the whole knowledge base.

The file is plain JSON, and reading it validates every claim again through the `Claim`
model (in one call into pydantic's Rust core, which is what makes a warm load fast): the
cache can save work but can never let an invalid claim through. A claim is cached only
after its JSON form has been read back and found equal to the original, so what JSON
cannot represent exactly (a non-finite float) is simply re-read from its file every time.
Writes are atomic (temp file + rename), so concurrent `kb` processes leave one complete
cache behind; a cache that is corrupt, truncated or from another version is ignored and
rewritten, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from functools import cache
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError

from kb import __version__
from kb.formats.errors import Problem
from kb.formats.records import atomic_write
from kb.formats.schema import Claim

CACHE_DIR = ".kb/cache"
CLAIMS_FILE = "claims.json"
DISABLE_ENV = "KB_NO_CACHE"  # set to 1 to read every file afresh


def enabled() -> bool:
    """Whether CLI commands should use the cache ($KB_NO_CACHE=1 turns it off)."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in ("1", "true", "yes")


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


@cache
def version_key() -> str:
    """Changes whenever anything that could change a file's result changes.

    Hashing kb's own source (every module of the package's top level) rather than trusting
    `__version__` alone means an edited validator invalidates the cache during development.
    """
    import pydantic
    import yaml

    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{__version__}\0{pydantic.VERSION}\0{yaml.__version__}\0{sys.version}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class _Entry(BaseModel):
    hash: str
    claim: Claim | None
    problems: list[Problem]


_ENTRIES = TypeAdapter(dict[str, _Entry])


class ClaimCache:
    """Cached results for the claim files of one knowledge base, read once, saved once."""

    def __init__(self, root: Path) -> None:
        self.path = root / CACHE_DIR / CLAIMS_FILE
        self._old = self._read()
        self._kept: dict[str, _Entry] = {}
        self._added: dict[str, _Entry] = {}

    def _read(self) -> dict[str, _Entry]:
        try:
            with self.path.open("rb") as handle:
                header = json.loads(handle.readline())
                if not isinstance(header, dict) or header.get("version") != version_key():
                    return {}
                return _ENTRIES.validate_json(handle.read())
        except (OSError, ValueError, ValidationError):  # missing, corrupt or foreign: start over
            return {}

    def get(self, file: str, digest: str) -> tuple[Claim | None, list[Problem]] | None:
        """The cached result for `file` if its content hash is `digest`, else None."""
        entry = self._old.get(file)
        if entry is None or entry.hash != digest:
            return None
        self._kept[file] = entry
        return entry.claim, entry.problems

    def put(self, file: str, digest: str, claim: Claim | None, problems: list[Problem]) -> None:
        self._added[file] = _Entry(hash=digest, claim=claim, problems=problems)

    def save(self) -> None:
        """Write the entries used in this run, if they differ from what was read."""
        if not self._added and self._kept.keys() == self._old.keys():
            return
        entries = {**self._kept, **(_exact(self._added) if self._added else {})}
        body = _ENTRIES.dump_json(dict(sorted(entries.items())))
        header = json.dumps({"version": version_key()}).encode() + b"\n"
        try:
            _atomic_write(self.path, header + body)
        except OSError:  # a read-only checkout still checks, only without a cache
            pass


def _exact(entries: dict[str, _Entry]) -> dict[str, _Entry]:
    """The entries that come back from their JSON form equal to what they are."""
    try:
        again = _ENTRIES.validate_json(_ENTRIES.dump_json(entries))
    except ValidationError:  # one inexact entry fails them all: find it
        if len(entries) == 1:
            return {}
        return {file: entry for file, entry in entries.items() if _exact({file: entry})}
    return {file: entry for file, entry in entries.items() if again.get(file) == entry}


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():  # keep the cache out of git in any repository, not only ours
        ignore.write_text("*\n", encoding="utf-8")
    atomic_write(path, data, durable=False)  # a lost cache is only rebuilt
