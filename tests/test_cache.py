"""The claim-file cache (.kb/cache/): it saves work and never changes a result."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support import kb_executable, run_kb

from kb.checking import cache, load
from kb.checking.load import load as load_kb

Write = Callable[[str, "str | bytes"], Path]

EXPLANATION = """\
schema_version: 1
id: {id}
kind: explanation
explains: fast-training
title: Explanation {id}
statement: Explanation {id} says that {words}.
summary: Because, at more length.
topic: demo
sources:
  - citekey: {citekey}
    stance: proposes
    locator: Sec. 1
created: 2026-01-01
updated: 2026-01-01
"""
WORDS = ["noise helps", "width matters", "depth hurts", "sharpness falls", "rank collapses"]


def explanation(id: str, citekey: str = "ioffe2015") -> str:
    n = int(id.rsplit("-", 1)[1])
    words = f"{WORDS[n % len(WORDS)]} in regime {n} of {n * 7 % 13} with {n * 3 % 11} steps"
    return EXPLANATION.format(id=id, citekey=citekey, words=words)


@pytest.fixture
def messy_kb(base_kb: Path, write: Write) -> Path:
    """A knowledge base with errors of every stage and warnings."""
    for n in range(6):
        write(f"claims/demo/because-{n}.yaml", explanation(f"because-{n}"))
    write("claims/demo/bad-yaml.yaml", "id: [unclosed\n")
    write(
        "claims/demo/bad-field.yaml",
        explanation("because-9").replace("kind: explanation", "kind: explanaton"),
    )
    write("claims/demo/wrong-id.yaml", explanation("because-7"))
    write(
        "claims/demo/unknown-cite.yaml",
        explanation("unknown-cite-1", citekey="nobody2020").replace(
            "unknown-cite-1", "unknown-cite"
        ),
    )
    write("claims/demo/list.yaml", "- a\n- b\n")
    write("claims/demo/old.yml", explanation("old-1"))
    return base_kb


def check_json(root: Path, *, cached: bool) -> tuple[int, str]:
    env = {} if cached else {cache.DISABLE_ENV: "1"}
    result = run_kb("check", "--format", "json", cwd=root, env=env)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, result.stdout


def test_check_output_is_the_same_with_and_without_the_cache(messy_kb: Path) -> None:
    without = check_json(messy_kb, cached=False)
    assert without[0] == 1 and json.loads(without[1])["warnings"] >= 1
    assert not (messy_kb / cache.CACHE_DIR).exists()  # KB_NO_CACHE=1 writes nothing
    cold = check_json(messy_kb, cached=True)
    assert (messy_kb / cache.CACHE_DIR / cache.CLAIMS_FILE).is_file()
    warm = check_json(messy_kb, cached=True)
    assert cold == without and warm == without
    no_cache_flag = run_kb("check", "--format", "json", "--no-cache", cwd=messy_kb)
    assert (no_cache_flag.returncode, no_cache_flag.stdout) == without

    # Fix one file, break another, add a third: the cache follows the edits.
    (messy_kb / "claims/demo/bad-yaml.yaml").write_text(
        explanation("bad-yaml-1").replace("bad-yaml-1", "bad-yaml")
    )
    path = messy_kb / "claims/demo/because-2.yaml"
    path.write_text(path.read_text().replace("locator: Sec. 1", "locator: ''"))
    (messy_kb / "claims/demo/because-8.yaml").write_text(explanation("because-8"))
    (messy_kb / "claims/demo/because-3.yaml").unlink()
    edited = check_json(messy_kb, cached=True)
    assert edited == check_json(messy_kb, cached=False)
    assert edited != without
    failing = {p["file"] for p in json.loads(edited[1])["problems"] if p["severity"] == "error"}
    assert "claims/demo/because-2.yaml" in failing and "claims/demo/bad-yaml.yaml" not in failing
    assert check_json(messy_kb, cached=True) == edited


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    original = load._parse_claim

    def counting(raw: bytes, path: Path, shown: str, root: Path):  # type: ignore[no-untyped-def]
        parsed.append(shown)
        return original(raw, path, shown, root)

    monkeypatch.setattr(load, "_parse_claim", counting)
    return parsed


def test_unchanged_files_are_not_parsed_again(
    messy_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_kb(messy_kb, use_cache=True)
    parsed = _count_parses(monkeypatch)
    second = load_kb(messy_kb, use_cache=True)
    assert parsed == []
    assert second.problems == first.problems
    assert {k: v.claim for k, v in second.claims.items()} == {
        k: v.claim for k, v in first.claims.items()
    }
    assert second.files_checked == first.files_checked

    path = messy_kb / "claims/demo/because-1.yaml"
    path.write_text(path.read_text().replace("Explanation because-1", "Edited because-1"))
    third = load_kb(messy_kb, use_cache=True)
    assert parsed == ["claims/demo/because-1.yaml"]
    assert third.claims["because-1"].claim.title == "Edited because-1"
    # A change of content, not of time: restoring the old bytes hits the cache again.
    path.write_text(explanation("because-1"))
    parsed.clear()
    assert (
        load_kb(messy_kb, use_cache=True).claims["because-1"].claim.title == "Explanation because-1"
    )
    assert parsed == ["claims/demo/because-1.yaml"]
    parsed.clear()
    os.utime(path, (1, 1))
    load_kb(messy_kb, use_cache=True)
    assert parsed == []


def test_another_kb_version_empties_the_cache(
    messy_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_kb(messy_kb, use_cache=True)
    parsed = _count_parses(monkeypatch)
    monkeypatch.setattr(cache, "version_key", lambda: "a later kb")
    kb = load_kb(messy_kb, use_cache=True)
    assert len(parsed) == kb.files_checked - 1  # every file but old.yml, refused by name
    header = (messy_kb / cache.CACHE_DIR / cache.CLAIMS_FILE).read_bytes().split(b"\n", 1)[0]
    assert json.loads(header) == {"version": "a later kb"}


def test_version_key_covers_kb_source() -> None:
    key = cache.version_key()
    assert key == cache.version_key() and len(key) == 40
    source = Path(cache.__file__).read_bytes()
    assert b"version_key" in source  # the key hashes files such as this one


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00\xff garbage",
        b'{"version": "x"}\n{}',
        None,  # the right version with a truncated body
        "tampered",  # the right version, a cached claim that no longer validates
    ],
)
def test_corrupt_cache_is_ignored_and_rewritten(
    messy_kb: Path, content: bytes | str | None
) -> None:
    expected = check_json(messy_kb, cached=False)
    path = messy_kb / cache.CACHE_DIR / cache.CLAIMS_FILE
    check_json(messy_kb, cached=True)
    good = path.read_bytes()
    if content is None:
        content = good[: len(good) // 2]
    elif content == "tampered":
        header, body = good.split(b"\n", 1)
        entries = json.loads(body)
        entries["claims/demo/because-1.yaml"]["claim"]["kind"] = "not a kind"
        content = header + b"\n" + json.dumps(entries).encode()
    assert isinstance(content, bytes)
    path.write_bytes(content)
    assert check_json(messy_kb, cached=True) == expected
    assert path.read_bytes() == good


def test_non_finite_floats_are_not_cached(base_kb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = base_kb / "claims/demo/fast-training.yaml"
    text = path.read_text().replace(
        "  basis: none\n",
        "  basis: none\n  verdicts:\n    - prediction: p\n      verdict: inconclusive\n      estimate: .inf\n",
    )
    path.write_text(text)
    first = load_kb(base_kb, use_cache=True)
    assert first.claims["fast-training"].claim.status.verdicts[0].estimate == float("inf")  # type: ignore[union-attr]
    parsed = _count_parses(monkeypatch)
    again = load_kb(base_kb, use_cache=True)
    assert parsed == ["claims/demo/fast-training.yaml"]  # JSON would have made it null
    assert again.claims["fast-training"].claim == first.claims["fast-training"].claim


@pytest.mark.slow
def test_concurrent_checks_leave_a_sound_cache(base_kb: Path, write: Write) -> None:
    for n in range(150):
        write(f"claims/demo/because-{n}.yaml", explanation(f"because-{n}"))
    expected = check_json(base_kb, cached=False)
    env = {k: v for k, v in os.environ.items() if k not in ("KB_ROOT", cache.DISABLE_ENV)}
    procs = [
        subprocess.Popen(
            [kb_executable(), "check", "--format", "json"],
            cwd=base_kb,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [(p.returncode, out) for p, (out, _) in zip(procs, outputs, strict=True)] == [
        expected
    ] * len(procs), [err for _, err in outputs]
    assert not [p for p in (base_kb / cache.CACHE_DIR).iterdir() if p.suffix == ".tmp"]
    cache.version_key.cache_clear()  # kb's source may have been edited since it was computed
    reader = cache.ClaimCache(base_kb)
    claims = load_kb(base_kb).claims
    for loaded in claims.values():
        digest = cache.content_hash(loaded.path.read_bytes())
        assert reader.get(loaded.file, digest) == (loaded.claim, [])
