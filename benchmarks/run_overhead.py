"""What `kb run` costs over calling an experiment directly, and what `--jobs 2` buys.

    python benchmarks/run_overhead.py [--seconds 3] [--seeds 4]

Targets (issue 3): overhead of `kb run` over running the same experiment function
directly <= 1 s (per run of one seed: process start, provenance, record, status refresh);
throughput of `--jobs 2` against `--jobs 1` >= 1.7x on 2 cores. The experiment is a
CPU-bound pure-Python loop of a fixed amount of work, so the ratios measure the runner and
not torch's threading. Each figure is measured in this one run, as a ratio.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KB = str(Path(sys.executable).parent / "kb")

SCRIPT = '''"""Benchmark experiment: a fixed amount of pure-Python work."""
SCALES = {{"smoke": {{"iterations": {iterations}}}, "full": {{"iterations": {iterations}}}}}
REGIME = {{"smoke": {{"data_scale": "toy"}}, "full": {{"data_scale": "toy"}}}}
METRICS = {{"total": "sum of the loop"}}


def run(config, seed, device):
    total = 0
    for i in range(config["iterations"]):
        total += (i * seed) % 7
    return {{"metrics": {{"total": float(total)}}}}
'''


def calibrate(seconds: float) -> int:
    """Iterations that take about `seconds` in this interpreter."""
    n, start = 2_000_000, time.perf_counter()
    total = 0
    for i in range(n):
        total += (i * 3) % 7
    return int(n * seconds / (time.perf_counter() - start))


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="work per seed")
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    iterations = calibrate(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "kb"
        shutil.copytree(REPO / "tests/golden/base", root)
        (root / "repro/work.py").write_text(SCRIPT.format(iterations=iterations))
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        direct_code = f"import runpy; m = runpy.run_path('repro/work.py'); m['run']({{'iterations': {iterations}}}, 0, 'cpu')"
        direct = min(timed([sys.executable, "-c", direct_code], root) for _ in range(2))
        via_kb = []
        for _ in range(2):
            shutil.rmtree(root / "repro/runs", ignore_errors=True)
            shutil.rmtree(root / ".kb", ignore_errors=True)
            via_kb.append(timed([KB, "run", "work", "--seeds", "1", "--device", "cpu"], root))
        overhead = min(via_kb) - direct
        walls = {}
        for jobs in (1, 2):
            shutil.rmtree(root / "repro/runs", ignore_errors=True)
            shutil.rmtree(root / ".kb", ignore_errors=True)
            walls[jobs] = timed([KB, "run", "work", "--seeds", str(args.seeds), "--jobs", str(jobs), "--device", "cpu"], root)
    print(f"one seed of ~{args.seconds:g} s of work: direct {direct:.2f} s, kb run {min(via_kb):.2f} s, overhead {overhead:.2f} s (target <= 1 s)")
    print(f"{args.seeds} seeds: --jobs 1 {walls[1]:.2f} s, --jobs 2 {walls[2]:.2f} s, speed-up {walls[1] / walls[2]:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
