"""Load the knowledge base from disk and check it, file by file and across files.

`load(root)` never raises for bad content: it returns a `KnowledgeBase` holding every
claim that validated plus every problem found (sorted), so `kb check` can report all of
them at once. Commands that need a sound knowledge base call `kb.require_valid()`.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from kb.checking.cache import ClaimCache, content_hash
from kb.checking.crosscheck import cross_checks
from kb.checking.knowledge import CLAIMS_DIR, REFERENCES_FILE, REPRO_DIR, KnowledgeBase, LoadedClaim
from kb.formats import yamlfile
from kb.formats.bib import read_references
from kb.formats.diagnose import problems_from_validation
from kb.formats.errors import (
    NotAKnowledgeBase,
    Problem,
)
from kb.formats.experiment import read_experiment
from kb.formats.files import FileRefused, SafeReader
from kb.formats.schema import Claim


def find_root(start: Path | None = None) -> Path:
    """The knowledge-base root: $KB_ROOT, else the nearest folder upward holding `claims/`."""
    if env := os.environ.get("KB_ROOT"):
        root = Path(env)
        if not (root / CLAIMS_DIR).is_dir():
            raise NotAKnowledgeBase(f"KB_ROOT={env} has no '{CLAIMS_DIR}/' folder")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CLAIMS_DIR).is_dir():
            return folder
    raise NotAKnowledgeBase(
        f"no '{CLAIMS_DIR}/' folder in {here} or above: run kb inside a knowledge base "
        "or set KB_ROOT"
    )


def given_root(root: Path) -> Path:
    """A root named by the user (`--root`): it must exist and hold `claims/`."""
    if not root.is_dir():
        raise NotAKnowledgeBase(f"--root {root}: no such folder")
    if not (root / CLAIMS_DIR).is_dir():
        raise NotAKnowledgeBase(
            f"--root {root}: not a knowledge base (it has no '{CLAIMS_DIR}/' folder)"
        )
    return root


def claim_files(root: Path) -> Iterator[Path]:
    yield from sorted((root / CLAIMS_DIR).rglob("*.y*ml"))


def read_claim(
    path: Path, root: Path, cache: ClaimCache | None = None, reader: SafeReader | None = None
) -> tuple[LoadedClaim | None, list[Problem]]:
    """Parse and validate one claim file; return it, or None and its problems.

    With a cache, a file whose bytes were seen before is not parsed again (kb/checking/cache.py).
    Only regular files inside `root` are read (kb/formats/files.py).
    """
    shown = path.relative_to(root).as_posix()
    if path.suffix == ".yml":
        return None, [Problem(shown, 0, 0, "", "claim files end in .yaml, not .yml")]
    try:
        raw = (reader or SafeReader(root)).read(path, yamlfile.MAX_BYTES)
    except FileRefused as exc:
        return None, [Problem(shown, 1, 1, "", exc.message)]
    except OSError as exc:
        return None, [Problem(shown, 1, 1, "", f"cannot read file: {exc.strerror}")]
    if cache is None:
        return _parse_claim(raw, path, shown, root)
    digest = content_hash(raw)
    hit = cache.get(shown, digest)
    if hit is not None:
        claim, problems = hit
        return (LoadedClaim(claim, shown, path) if claim is not None else None), problems
    loaded, problems = _parse_claim(raw, path, shown, root)
    cache.put(shown, digest, loaded.claim if loaded is not None else None, problems)
    return loaded, problems


def _parse_claim(
    raw: bytes, path: Path, shown: str, root: Path
) -> tuple[LoadedClaim | None, list[Problem]]:
    try:
        doc = yamlfile.parse(raw)
    except yamlfile.YamlProblem as exc:
        return None, [Problem(shown, exc.mark.line, exc.mark.column, exc.field, exc.message)]
    if not isinstance(doc.data, dict):
        found = "a list" if isinstance(doc.data, list) else "a single value"
        return None, [
            Problem(shown, 1, 1, "", f"expected a mapping of claim fields, found {found}")
        ]
    try:
        claim = Claim.model_validate(doc.data)
    except ValidationError as exc:
        return None, problems_from_validation(exc, Claim, doc, shown)
    loaded = LoadedClaim(claim, shown, path, doc)
    problems = _file_checks(loaded, path, root)
    loaded._doc = None  # see LoadedClaim.doc
    return loaded, problems


def _file_checks(loaded: LoadedClaim, path: Path, root: Path) -> list[Problem]:
    claim, out = loaded.claim, []
    if claim.id != path.stem:
        out.append(
            loaded.problem(("id",), f"id '{claim.id}' differs from the file name '{path.stem}'")
        )
    parts = loaded.file.split("/")[1:]  # under claims/; as path.relative_to, at a tenth the cost
    if len(parts) != 2:
        out.append(Problem(loaded.file, 0, 0, "", "claim files live in claims/<topic>/<id>.yaml"))
    elif claim.topic != parts[0]:
        out.append(
            loaded.problem(
                ("topic",), f"topic '{claim.topic}' differs from the folder '{parts[0]}'"
            )
        )
    seen: dict[str, int] = {}
    for i, prediction in enumerate(claim.predictions):
        if prediction.id in seen:
            out.append(
                loaded.problem(
                    ("predictions", i, "id"),
                    f"prediction id '{prediction.id}' is already used by predictions[{seen[prediction.id]}]",
                )
            )
        seen.setdefault(prediction.id, i)
    return out


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around bulk work on the knowledge base.

    Loading and deriving allocate many small acyclic objects that stay alive; the collector
    would rescan them again and again (a quarter of the time at 10,000 claims). They are
    frozen afterwards too: otherwise the first collection after the pause scans them all at
    once (a second at 10,000 claims and 100,000 runs, most of an incremental index refresh).
    Frozen objects are still freed when their last reference goes; only garbage cycles made
    during the pause stay until the process ends: a few dozen objects per experiment script
    (from ast.literal_eval's closures), none per claim file (see kb.formats.yamlfile._to_python).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()


def load(root: Path, *, use_cache: bool = False) -> KnowledgeBase:
    """Every claim, reference and experiment under `root`, with all problems found, sorted.

    `use_cache` reuses the results of unchanged claim files from `.kb/cache/` and saves
    the new ones there; the result is the same either way.
    """
    with gc_paused():
        return _load(root, ClaimCache(root) if use_cache else None)


def _load(root: Path, cache: ClaimCache | None) -> KnowledgeBase:
    kb = KnowledgeBase(root=root)
    first_file: dict[str, str] = {}
    reader = SafeReader(root)
    for path in claim_files(root):
        kb.files_checked += 1
        loaded, problems = read_claim(path, root, cache, reader)
        kb.problems += problems
        if loaded is None:
            continue
        cid = loaded.claim.id
        if cid in kb.claims:
            kb.problems.append(
                loaded.problem(("id",), f"id '{cid}' is already used by {first_file[cid]}")
            )
            continue
        first_file[cid] = loaded.file
        kb.claims[cid] = loaded
    if cache is not None:
        cache.save()
    kb.references, bib_problems = read_references(
        root / REFERENCES_FILE, REFERENCES_FILE, root=root
    )
    kb.problems += bib_problems
    kb.experiments = {
        p.stem: p for p in sorted((root / REPRO_DIR).glob("*.py")) if not p.stem.startswith("_")
    }
    for name, path in kb.experiments.items():
        info = read_experiment(path, f"{REPRO_DIR}/{path.name}", root=root)
        kb.experiment_info[name] = info
        kb.problems += info.problems
    kb.problems += cross_checks(kb)
    kb.problems.sort()
    return kb
