"""What fraction of the machine's matmul peak the heaviest reproductions' training loops reach.

    python benchmarks/experiment_flops.py [--top 4] [--threads 1] [--seed 0] [--json PATH]
    python benchmarks/experiment_flops.py --experiments shattered_gradients,finite_width_kurtosis

Which experiments. `--experiments a,b,...`, or else the `--top` N heaviest by mean recorded
wall time per seed of the registered smoke config: records in `repro/runs/<experiment>/*.json`
with scale "smoke" whose `config` equals the script's `SCALES["smoke"]` (so multiverse arms
and older configs do not count), from the current script hash if it has records, else from
the newest recorded hash; an experiment with no such record falls back to all its smoke
records. Seed results are deduplicated by seed key and only ok ones count.

What is measured, in one process and one run:

  peak     a square fp32 `torch.matmul` of `--peak-size` (default 1024) at `--threads`
           (default 1: kb runs each seed on one thread, `KB_THREADS`), best of `--peak-repeat`
           timings of 10 products, measured before and after the experiments (the best is
           kept); GFLOP/s = 2 n^3 / t.
  wall     the experiment's `run(SCALES["smoke"], seed, "cpu")`, loaded from its file with
           importlib as kb's worker does (the script's `__main__` block, which calls
           `kb.experiment.standalone`, does not run) and seeded as the worker seeds it
           (random, numpy, torch). Best of `--repeat` (default 1) timed calls; the first one
           is the first call in the process, so like a kb seed it includes first-call costs
           (data generation or cache reads, allocator warm-up), but not interpreter start-up
           and imports.
  GFLOP    one more call of `run` with the same seed under
           `torch.utils.flop_counter.FlopCounterMode(display=False)`, its module tracker
           replaced by a stub that files everything under "Global" (the tracker's hooks break
           `torch.autograd.grad` on leaf inputs, pytorch/pytorch#131753). This counted pass
           is separate from the timed one, so the counter's overhead never enters the timing.

Reading the figures: `GFLOP/s` = counted FLOPs / wall, and `of peak` is that over the peak
(how much of what one thread's matrix unit could do the loop actually gets). `top ops` is
the counter's per-op breakdown (`get_flop_counts()["Global"]`), the three largest with their
share. FLOPs are 2 per multiply-add, and only the ops the counter knows are counted: mm,
addmm, bmm, baddbmm, convolution and scaled-dot-product attention, forward and backward.
Elementwise work, activations, normalisation, softmax, reductions, the loss, the optimizer
update, data generation, and anything computed in numpy (not torch) are not counted, so
`GFLOP/s` and `of peak` are lower bounds on the work done, and an experiment whose time goes
mostly to those shows a small fraction (finite_width_kurtosis, mostly numpy, shows ~0).
The machine is shared and noisy: compare fractions from the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from lab_throughput import peak_gflops
from torch.utils.flop_counter import FlopCounterMode

from kb.formats.experiment import read_experiment
from kb.formats.records import sha256_bytes

REPO = Path(__file__).resolve().parent.parent
REPRO = REPO / "repro"


# ----------------------------------------------------------------------------------------
# Which experiments are heaviest (from the recorded smoke runs)


def recorded_wall_per_seed(name: str) -> float | None:
    """Mean per-seed wall time of the registered smoke config's records (see the docstring)."""
    script = REPRO / f"{name}.py"
    smoke = read_experiment(script, f"repro/{name}.py", root=REPRO).scales.get("smoke")
    current = sha256_bytes(script.read_bytes())
    records = []
    for path in sorted((REPRO / "runs" / name).glob("*.json")):  # run ids sort by time
        record = json.loads(path.read_text())
        if record.get("scale") == "smoke":
            records.append(record)
    registered = [r for r in records if r.get("config") == smoke]
    if registered:
        hashes = {r.get("script_sha256") for r in registered}
        chosen = current if current in hashes else registered[-1].get("script_sha256")
        records = [r for r in registered if r.get("script_sha256") == chosen]
    walls: dict[str, float] = {}
    for record in records:
        for result in record.get("results", []):
            if result.get("outcome") == "ok" and result.get("wall_s"):
                walls[result.get("key") or f"{record['id']}/{result['seed']}"] = result["wall_s"]
    return sum(walls.values()) / len(walls) if walls else None


def ranking() -> dict[str, float]:
    """Experiment -> recorded wall per seed, heaviest first (experiments without records last)."""
    walls = {p.stem: recorded_wall_per_seed(p.stem) for p in sorted(REPRO.glob("*.py"))}
    return {e: w for e, w in sorted(walls.items(), key=lambda kv: -(kv[1] or 0.0)) if w}


# ----------------------------------------------------------------------------------------
# Loading and running a script as kb's worker does


def load_script(name: str) -> ModuleType:
    """repro/<name>.py as a module, as kb.running.worker.run_one loads it (`__main__` not run)."""
    path = REPRO / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"repro_{name}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def seeded_run(module: ModuleType, config: dict[str, Any], seed: int) -> None:
    """One `run` call, the global generators seeded as the worker seeds them."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    module.run(dict(config), seed, "cpu")


class GlobalOnly:
    """Stands in for FlopCounterMode's ModuleTracker: every FLOP goes to "Global" only.

    The tracker's hooks on module inputs break `torch.autograd.grad` with respect to a leaf
    input ("A leaf node was passed to _will_engine_execute_node", pytorch/pytorch#131753),
    which kb.lab.measure's input gradients do; the per-module breakdown is not needed here.
    """

    parents = frozenset({"Global"})

    def __enter__(self) -> GlobalOnly:
        return self

    def __exit__(self, *args: object) -> None:
        return None


def measure(name: str, seed: int, repeat: int, threads: int) -> dict[str, Any]:
    """Wall time (best of `repeat`) and counted FLOPs (a separate pass) of one smoke seed."""
    module = load_script(name)
    torch.set_num_threads(threads)  # after the import, as the worker does
    config = module.SCALES["smoke"]
    wall = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        seeded_run(module, config, seed)
        wall = min(wall, time.perf_counter() - start)
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = GlobalOnly()  # type: ignore[assignment]
    with counter:
        seeded_run(module, config, seed)
    flops = counter.get_total_flops()
    by_op = counter.get_flop_counts().get("Global", {})
    top = sorted(by_op.items(), key=lambda kv: -kv[1])[:3]
    return {
        "wall_s": round(wall, 3),
        "gflop": round(flops / 1e9, 3),
        "gflops": round(flops / wall / 1e9, 2),
        "top_ops": {str(op): round(n / flops, 3) for op, n in top if flops},
    }


# ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", help="comma-separated names (default: the --top heaviest)")
    parser.add_argument("--top", type=int, default=4, help="how many of the heaviest recorded")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0, help="the seed passed to run()")
    parser.add_argument("--repeat", type=int, default=1, help="timed run() calls, best kept")
    parser.add_argument("--peak-size", type=int, default=1024, help="n of the n x n matmul")
    parser.add_argument("--peak-repeat", type=int, default=5, help="peak timings, best kept")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    recorded = ranking()
    if args.experiments:
        chosen = [e.strip() for e in args.experiments.split(",") if e.strip()]
        unknown = [e for e in chosen if not (REPRO / f"{e}.py").is_file()]
        if unknown:
            parser.error(f"no such experiment: {', '.join(unknown)}")
    else:
        chosen = list(recorded)[: args.top]
    print("recorded smoke wall per seed (s), heaviest first: "
          + ", ".join(f"{e} {w:.1f}" for e, w in recorded.items()), flush=True)

    peak = peak_gflops(args.peak_repeat, args.peak_size)
    rows: dict[str, dict[str, Any]] = {}
    for name in chosen:
        print(f"running {name} ...", flush=True)
        rec = round(recorded[name], 2) if name in recorded else None
        rows[name] = {"recorded_wall_s": rec, **measure(name, args.seed, args.repeat, args.threads)}
    torch.set_num_threads(args.threads)
    peak = max(peak, peak_gflops(args.peak_repeat, args.peak_size))
    for row in rows.values():
        row["fraction_of_peak"] = round(row["gflops"] / peak, 4)

    print(f"\nsmoke config, seed {args.seed}, {args.threads} thread(s), torch {torch.__version__}; "
          f"{args.peak_size}^3 fp32 matmul peak {peak:.1f} GFLOP/s (best of {args.peak_repeat})")
    header = (f"{'experiment':<24} {'rec s':>6} {'wall s':>7} {'GFLOP':>8} {'GFLOP/s':>8} "
              f"{'of peak':>7}  top ops (share of counted FLOPs)")
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        rec = f"{row['recorded_wall_s']:.1f}" if row["recorded_wall_s"] else "-"
        ops = ", ".join(f"{op.removeprefix('aten.')} {share:.0%}"
                        for op, share in row["top_ops"].items()) or "(none counted)"
        print(f"{name:<24} {rec:>6} {row['wall_s']:>7.2f} {row['gflop']:>8.2f} "
              f"{row['gflops']:>8.2f} {row['fraction_of_peak']:>7.1%}  {ops}")

    if args.json:
        args.json.write_text(json.dumps({
            "seed": args.seed, "threads": args.threads, "repeat": args.repeat,
            "torch": torch.__version__, "peak_size": args.peak_size,
            "peak_gflops": round(peak, 1), "experiments": rows,
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
