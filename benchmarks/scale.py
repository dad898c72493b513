"""How kb copes with a large knowledge base: 10,000 claims and 100,000 run records.

    python benchmarks/scale.py [--claims 10000] [--runs 100000] [--skip-site] [--keep DIR]

Measures, in one run on one generated knowledge base: `kb check` cold (no cache) and warm
(every file cached), a full index rebuild (`kb index --force`), the incremental index
refresh after one claim file changes, `kb status`, and `kb site build`. Targets (issue 8):
the incremental refresh <= 1 s and the site build <= 10 minutes at 10,000 claims / 100,000
runs. Ratios (warm/cold, incremental/rebuild) are measured in the same run, because the
machine is shared and noisy; each figure is one measurement, not a best of several.

The knowledge base is the one of benchmarks/check_speed.py (one phenomenon and nine
explanations per ten claims) plus `--experiments` tiny experiment scripts, one claim per
experiment with a prediction that names it, and `--runs` small schema-valid run records
spread evenly over the experiments (three seeds each).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _generate import generate

REPO = Path(__file__).resolve().parent.parent
KB = str(Path(sys.executable).parent / "kb")
TARGET_INCREMENTAL_S = 1.0
TARGET_SITE_S = 600.0

SCRIPT = '''"""Benchmark experiment {n}: reports two constants with a little seed noise."""

SCALES = {{"smoke": {{"mean": 2.0}}, "full": {{"mean": 2.0}}}}
REGIME = {{"smoke": {{"data_scale": "toy"}}, "full": {{"data_scale": "small"}}}}
METRICS = {{"ratio": "a ratio around the mean", "gap": "a small gap"}}


def run(config, seed, device):
    return {{"metrics": {{"ratio": config["mean"] + seed / 100, "gap": 0.05}}}}
'''

# A claim's first prediction, rewritten to name an experiment instead of being open.
OPEN_PREDICTION = """\
  - id: first
    statement: The measured ratio exceeds one and a half.
    open: true
    metric: ratio
"""
TESTED_PREDICTION = """\
  - id: first
    statement: The measured ratio exceeds one and a half.
    experiment: {experiment}
    metric: ratio
"""


def experiment_name(n: int) -> str:
    return f"exp_{n:03d}"


def record_json(experiment: str, run_id: str, started: dt.datetime, n: int) -> str:
    """One small, schema-valid run record (kb/formats/records.py RunRecord), three seeds."""
    results = [
        {
            "seed": seed,
            "key": f"{n:032x}{seed:032x}",
            "outcome": "ok",
            "metrics": {"ratio": 2.0 + ((n * 7 + seed) % 10) / 100, "gap": 0.05},
            "wall_s": 0.01,
            "device": "cpu",
        }
        for seed in range(3)
    ]
    record = {
        "record_version": 1,
        "id": run_id,
        "experiment": experiment,
        "scale": "smoke",
        "config": {"mean": 2.0},
        "seeds": [0, 1, 2],
        "outcome": "ok",
        "results": results,
        "script": f"repro/{experiment}.py",
        "script_sha256": "0" * 64,
        "git": {"commit": None, "dirty": False},
        "packages": {"python": "3.11"},
        "hardware": {"device": "cpu", "cpu": "bench", "cores": 2, "platform": "linux"},
        "started": started.isoformat(),
        "finished": (started + dt.timedelta(seconds=1)).isoformat(),
        "wall_s": 1.0,
        "command": f"kb run {experiment}",
    }
    return json.dumps(record, separators=(",", ":"))


def generate_large(root: Path, n_claims: int, n_runs: int, n_experiments: int) -> None:
    """The check_speed knowledge base plus experiments, claims that test them, and runs."""
    generate(root, n_claims)
    (root / "repro").mkdir()
    names = [experiment_name(n) for n in range(n_experiments)]
    for n, name in enumerate(names):
        (root / "repro" / f"{name}.py").write_text(SCRIPT.format(n=n), encoding="utf-8")
    # The first explanation of every tenth group tests one experiment.
    stride = max(1, n_claims // n_experiments)
    for k, name in enumerate(names):
        n = min(k * stride + 1, n_claims - 1)
        path = root / "claims" / f"topic-{n // 100}" / f"claim-{n}.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace(OPEN_PREDICTION, TESTED_PREDICTION.format(experiment=name)),
            encoding="utf-8",
        )
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for name in names:
        (root / "repro" / "runs" / name).mkdir(parents=True)
    for n in range(n_runs):
        name = names[n % n_experiments]
        started = start + dt.timedelta(seconds=n)
        run_id = f"{started:%Y%m%dT%H%M%SZ}-{n:06x}"
        path = root / "repro" / "runs" / name / f"{run_id}.json"
        path.write_text(record_json(name, run_id, started, n), encoding="utf-8")


def timed(
    argv: list[str], root: Path, env: dict[str, str]
) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, result


def measure(root: Path, skip_site: bool) -> dict[str, float]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KB_ROOT", "KB_NO_CACHE", "KB_DATABASE_URL")
    }
    out: dict[str, float] = {}

    def step(
        name: str,
        argv: list[str],
        *,
        ok_codes: tuple[int, ...] = (0,),
        extra: dict[str, str] | None = None,
    ) -> None:
        seconds, result = timed(argv, root, env | (extra or {}))
        if result.returncode not in ok_codes:
            sys.exit(
                f"{name}: `{' '.join(argv)}` exited {result.returncode}\n{result.stderr[-3000:]}"
            )
        out[name] = seconds
        print(f"  {name:<22} {seconds:8.2f} s", flush=True)

    cache = root / ".kb" / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    step("check_nocache", [KB, "check"], extra={"KB_NO_CACHE": "1"})
    step("check_cold", [KB, "check"])
    step("check_warm", [KB, "check"])
    step("status", [KB, "status", "--format", "json"])
    step("index_rebuild", [KB, "index", "--force"])
    edited = root / "claims" / "topic-0" / "claim-5.yaml"
    edited.write_text(
        edited.read_text(encoding="utf-8").replace("number 5 about", "number five about"),
        encoding="utf-8",
    )
    step("check_after_edit", [KB, "check"])
    step("index_incremental", [KB, "index"])
    step("index_unchanged", [KB, "index"])
    out["index_refresh_only"] = refresh_only(root)
    print(f"  {'index_refresh_only':<22} {out['index_refresh_only']:8.2f} s", flush=True)
    if not skip_site:
        out["site_generate_only"] = generate_only(root)
        print(f"  {'site_generate_only':<22} {out['site_generate_only']:8.2f} s", flush=True)
        step(
            "site_build",
            [
                KB,
                "site",
                "build",
                "--config",
                str(REPO / "mkdocs.yml"),
                "-o",
                str(root / "site-build"),
            ],
        )
    return out


def refresh_only(root: Path) -> float:
    """`kb index` minus its start-up and knowledge-base load: the refresh after one edit."""
    from kb.checking.load import load
    from kb.data import index

    edited = root / "claims" / "topic-0" / "claim-6.yaml"
    edited.write_text(
        edited.read_text(encoding="utf-8").replace("number 6 about", "number six about"),
        encoding="utf-8",
    )
    kb = load(root, use_cache=True)
    start = time.perf_counter()
    report = index.refresh(kb)
    seconds = time.perf_counter() - start
    assert report.rebuilt, "the edit was not picked up"
    return seconds


def generate_only(root: Path) -> float:
    """kb's part of the site build: load, read the records, generate every page (no MkDocs)."""
    from kb.site.generate import site_from_disk
    from kb.site.model import SiteOptions

    start = time.perf_counter()
    site_from_disk(root, SiteOptions(cache_dir=root / ".kb" / "site-cache" / "plots"))
    return time.perf_counter() - start


def report(out: dict[str, float], claims: int, runs: int) -> None:
    def ratio(a: str, b: str) -> str:
        return f"{out[a] / out[b]:.3f}" if a in out and b in out and out[b] else "-"

    print(f"\n{claims:,} claims, {runs:,} run records")
    print(f"{'measurement':<22} {'seconds':>9}")
    for name, seconds in out.items():
        print(f"{name:<22} {seconds:9.2f}")
    print(f"\nwarm/cold check          {ratio('check_warm', 'check_cold')}")
    print(f"warm/no-cache check      {ratio('check_warm', 'check_nocache')}")
    print(f"incremental/rebuild      {ratio('index_incremental', 'index_rebuild')}")
    print(f"refresh only/rebuild     {ratio('index_refresh_only', 'index_rebuild')}")
    met = out["index_refresh_only"] <= TARGET_INCREMENTAL_S
    print(
        f"target: incremental index refresh (index_refresh_only) <= {TARGET_INCREMENTAL_S} s: "
        f"{'met' if met else 'MISSED'}"
    )
    if "site_build" in out:
        print(
            f"site: kb's page generation / whole build {ratio('site_generate_only', 'site_build')}"
        )
        met = out["site_build"] <= TARGET_SITE_S
        print(f"target: site build <= {TARGET_SITE_S:.0f} s: {'met' if met else 'MISSED'}")
    print(json.dumps({k: round(v, 3) for k, v in out.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--experiments", type=int, default=100)
    parser.add_argument("--skip-site", action="store_true", help="Do not time the site build.")
    parser.add_argument("--keep", type=Path, help="Generate into this folder and keep it.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "kb"
        start = time.perf_counter()
        generate_large(root, args.claims, args.runs, args.experiments)
        print(f"generated in {time.perf_counter() - start:.1f} s", flush=True)
        # Stored statuses must match the derived ones for `kb check` to pass (untimed).
        subprocess.run([KB, "status", "--write"], cwd=root, check=True, capture_output=True)
        report(measure(root, args.skip_site), args.claims, args.runs)


if __name__ == "__main__":
    main()
