"""Training-loop throughput of the three heaviest smoke reproductions, against matmul and DataLoader.

    python benchmarks/lab_throughput.py [--steps 400] [--repeat 3] [--threads 2]

Targets (issue: lab benchmark). For each of the three heaviest smoke experiments (by the
mean wall time per seed in `repro/runs/*/*.json`: noisy_bn, lottery_ticket, mup_lr_transfer),
its training workload (the script's model class and widths, batch size, optimizer and data
from its `SCALES["smoke"]`, built with the script's own helpers where it has them) is timed
three ways in the same process:

  kb       `kb.lab.train.train` for `--steps` steps (data resident, index-tensor batches);
  DL       the textbook loop on an identical fresh model: `TensorDataset` + `DataLoader(
           shuffle=True, batch_size=B)` with its defaults (num_workers=0), and per batch
           `opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()`
           for the same number of steps (same optimizer object: `kb.lab.train.make_optimizer`);
  matmul   plain `torch.matmul` on the model's layer shapes at that batch size: per linear
           layer the forward product, the weight gradient and (except for the input layer,
           whose input needs no gradient) the input gradient -- the same products, and so the
           same FLOPs, as one training step.

Reading the figures: `speedup` = DL time / kb time (target >= 3x). `GFLOP/s` is what the kb
loop achieves, counted analytically; `frac` is that over the matmul benchmark's GFLOP/s at
the same shapes (how close the loop gets to what the matrix products alone allow), and
`of peak` is that over a large square fp32 matmul (the machine's ceiling, ~205 GFLOP/s on 2
cores). FLOPs per example are 2 per multiply-add: 6 * (weights in matmuls) for forward +
both backward products, minus 2 * d_in * width for the input layer's input gradient that
autograd never computes; biases, activations, BatchNorm, noise, the loss and the optimizer
update are not counted (all models here are MLPs: no convs). Short last batches of an epoch
(n_train not a multiple of B) are counted at their true size.

The kb time excludes the two full evaluation passes `train` makes at its single evaluation
point and at the end (timed separately on the trained model and subtracted), so both
loops are timed on the optimizer steps alone. The machine is shared and noisy: the three
measurements of each workload are interleaved, each figure is the best of `--repeat`, and
all comparisons are ratios measured in this one run. Threads are set explicitly
(`torch.set_num_threads`, default 2).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import runpy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from kb.lab.dataset import Dataset
from kb.lab.train import evaluate, make_optimizer, train

REPO = Path(__file__).resolve().parent.parent
SEED = 0


# ----------------------------------------------------------------------------------------
# Which experiments are heaviest (from the recorded smoke runs)


def recorded_wall_per_seed() -> dict[str, float]:
    """Mean results[].wall_s of the newest smoke record of every experiment."""
    out: dict[str, float] = {}
    for folder in sorted((REPO / "repro" / "runs").glob("*")):
        records = sorted(folder.glob("*.json"))
        for path in reversed(records):
            record = json.loads(path.read_text())
            walls = [r["wall_s"] for r in record.get("results", []) if r.get("wall_s")]
            if record.get("scale") == "smoke" and walls:
                out[record["experiment"]] = sum(walls) / len(walls)
                break
    return out


# ----------------------------------------------------------------------------------------
# The workloads


@dataclass
class Workload:
    experiment: str
    model: str  # short description for the table
    build: Callable[[], nn.Module]  # a fresh model, identical on every call
    data: Dataset
    batch_size: int
    optimizer: str
    lr: float
    shapes: list[tuple[int, int]]  # (d_in, d_out) of every linear layer, input layer first


def script(name: str) -> dict[str, Any]:
    """The globals of repro/<name>.py (its `__main__` block does not run)."""
    return runpy.run_path(str(REPO / "repro" / f"{name}.py"))


def mlp_shapes(d_in: int, width: int, depth: int, d_out: int) -> list[tuple[int, int]]:
    return list(itertools.pairwise([d_in] + [width] * depth + [d_out]))


def noisy_bn() -> Workload:
    """The noisy-BN arm: MLP 8x128 with NoisyBatchNorm, SGD, batch 128, MNIST-1D 4,000."""
    mod = script("noisy_bn")
    config = mod["SCALES"]["smoke"]
    data = mod["load_data"](config, SEED, "cpu")
    d_in = math.prod(data.x_train.shape[1:])
    return Workload(
        "noisy_bn",
        f"MLP {config['depth']}x{config['width']} noisyBN",
        lambda: mod["build_model"](config, "noisy_bn", data, SEED),
        data,
        config["batch_size"],
        "sgd",
        config["lr"],
        mlp_shapes(d_in, config["width"], config["depth"], data.n_classes),
    )


def lottery_ticket() -> Workload:
    """A pruned LeNet-300-100 (gradient-mask hooks on), Adam, batch 60, 3,500 examples.

    Ten of the eleven training runs per seed are masked; the mask is one pruning round of
    the initial weights (sparsity does not change the dense matmuls' cost).
    """
    mod = script("lottery_ticket")
    config = mod["SCALES"]["smoke"]
    full = mod["mnist1d"](n_train=config["n_train"], n_test=1000, seed=SEED)
    n_fit = full.n_train - config["n_val"]
    data = Dataset(full.x_train[:n_fit], full.y_train[:n_fit], full.x_test, full.y_test,
                   full.n_classes, full.name)
    d_in = math.prod(data.x_train.shape[1:])
    masks = mod["prune_round"](mod["lenet"](d_in, config["hidden"], data.n_classes, SEED),
                               None, config)

    def build() -> nn.Module:
        model = mod["lenet"](d_in, config["hidden"], data.n_classes, SEED)
        mod["apply_masks"](model, masks)
        mod["mask_gradients"](model, masks)  # hooks live as long as the model
        return model

    sizes = [d_in, *config["hidden"], data.n_classes]
    return Workload("lottery_ticket", "LeNet-300-100 masked", build, data,
                    config["batch_size"], "adam", config["lr"], list(itertools.pairwise(sizes)))


def mup_lr_transfer() -> Workload:
    """The widest muP MLP (2x512, per-parameter Adam groups), batch 128, MNIST-1D 4,000.

    The widest width carries most of the experiment's FLOPs; the LR is one of its grid's
    (training must not diverge, or `train` would stop early).
    """
    mod = script("mup_lr_transfer")
    config = mod["SCALES"]["smoke"]
    data = mod["load_data"](config, SEED, "cpu")
    d_in = math.prod(data.x_train.shape[1:])
    width, base, depth = config["widths"][-1], config["widths"][0], config["depth"]

    def build() -> nn.Module:
        return mod["MLP"](d_in, width, depth, data.n_classes, parametrization="mup",
                          base_width=base, seed=SEED)

    return Workload("mup_lr_transfer", f"MLP {depth}x{width} muP", build, data,
                    config["batch_size"], "adam", 2.0**-8,
                    mlp_shapes(d_in, width, depth, data.n_classes))


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "noisy_bn": noisy_bn,
    "lottery_ticket": lottery_ticket,
    "mup_lr_transfer": mup_lr_transfer,
}


# ----------------------------------------------------------------------------------------
# FLOP counting


def flops_per_example(shapes: list[tuple[int, int]]) -> int:
    """Forward, weight-gradient and input-gradient products (none for the input layer)."""
    return sum(2 * a * b * (2 if i == 0 else 3) for i, (a, b) in enumerate(shapes))


def examples_in(steps: int, n: int, batch_size: int) -> int:
    """Examples seen in `steps` steps of shuffled epochs (the last batch may be short)."""
    epoch = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    full, rest = divmod(steps, len(epoch))
    return full * n + sum(epoch[:rest])


# ----------------------------------------------------------------------------------------
# The three timings


def time_kb(w: Workload, steps: int) -> float:
    """Seconds of `kb.lab.train.train` for `steps` steps, its evaluation passes removed."""
    model = w.build()
    start = time.perf_counter()
    result = train(model, w.data, steps=steps, lr=w.lr, optimizer=w.optimizer,
                   batch_size=w.batch_size, seed=SEED, eval_every=steps)
    wall = time.perf_counter() - start
    if result.diverged or result.n_steps != steps:
        raise RuntimeError(f"{w.experiment}: training stopped early ({result.n_steps} steps)")
    start = time.perf_counter()  # the two passes train() made: test at the end, then train
    evaluate(model, w.data.x_test, w.data.y_test)
    evaluate(model, w.data.x_train, w.data.y_train)
    return wall - (time.perf_counter() - start)


def time_dataloader(w: Workload, steps: int) -> float:
    """Seconds of the textbook DataLoader loop for `steps` steps on a fresh, identical model."""
    model = w.build()
    start = time.perf_counter()
    opt = make_optimizer(model, w.optimizer, w.lr)
    loader = DataLoader(TensorDataset(w.data.x_train, w.data.y_train),
                        batch_size=w.batch_size, shuffle=True)
    model.train()
    step = 0
    while step < steps:
        for x, y in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            step += 1
            if step == steps:
                break
    return time.perf_counter() - start


def time_matmul(w: Workload, steps: int) -> float:
    """Seconds of the matmuls of `steps` training steps at full batch size, nothing else."""
    b = w.batch_size
    layers = [(torch.randn(b, a), torch.randn(c, a), torch.randn(b, c)) for a, c in w.shapes]

    def step() -> None:
        for i, (x, weight, grad) in enumerate(layers):
            torch.matmul(x, weight.t())  # forward
            torch.matmul(grad.t(), x)  # weight gradient
            if i:
                torch.matmul(grad, weight)  # input gradient

    for _ in range(10):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def peak_gflops(repeat: int, size: int = 1024) -> float:
    """GFLOP/s of a large square fp32 matmul, best of `repeat`."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(10):
            torch.matmul(a, b)
        best = min(best, (time.perf_counter() - start) / 10)
    return 2 * size**3 / best / 1e9


# ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400, help="optimizer steps per timing")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    walls = recorded_wall_per_seed()
    ranking = sorted(walls, key=lambda e: -walls[e])
    print("recorded smoke wall time per seed (s): "
          + ", ".join(f"{e} {walls[e]:.1f}" for e in ranking), flush=True)
    chosen = [e for e in ranking if e in WORKLOADS][:3] or list(WORKLOADS)
    if chosen != ranking[:3]:
        print(f"note: heaviest recorded are {ranking[:3]}; benchmarking {chosen}")

    workloads = [WORKLOADS[e]() for e in chosen]
    for w in workloads:  # warm-up: first-call costs, allocator, lazy generators
        time_kb(w, 20)
        time_dataloader(w, 20)
        time_matmul(w, 20)
    best: dict[tuple[str, str], float] = {}
    peak = 0.0
    for _ in range(args.repeat):
        peak = max(peak, peak_gflops(1))
        for w in workloads:
            for kind, fn in (("kb", time_kb), ("dl", time_dataloader), ("mm", time_matmul)):
                seconds = fn(w, args.steps)
                best[w.experiment, kind] = min(best.get((w.experiment, kind), math.inf), seconds)

    header = (f"{'experiment':<16} {'model':<22} {'batch':>5} {'kb step/s':>9} {'DL step/s':>9} "
              f"{'speedup':>7} {'GFLOP/s':>7} {'mm GFLOP/s':>10} {'frac':>5} {'of peak':>7}")
    print(f"\n{args.steps} steps, best of {args.repeat}, {args.threads} threads, "
          f"torch {torch.__version__}; large-matmul peak {peak:.0f} GFLOP/s")
    print(header)
    print("-" * len(header))
    results: dict[str, Any] = {"steps": args.steps, "repeat": args.repeat,
                               "threads": args.threads, "peak_gflops": round(peak, 1)}
    for w in workloads:
        kb_s, dl_s, mm_s = (best[w.experiment, k] for k in ("kb", "dl", "mm"))
        per_example = flops_per_example(w.shapes)
        flops = per_example * examples_in(args.steps, w.data.n_train, w.batch_size)
        gflops = flops / kb_s / 1e9
        mm_gflops = per_example * w.batch_size * args.steps / mm_s / 1e9
        row = {
            "model": w.model,
            "batch": w.batch_size,
            "kb_steps_per_s": round(args.steps / kb_s, 1),
            "dataloader_steps_per_s": round(args.steps / dl_s, 1),
            "speedup": round(dl_s / kb_s, 2),
            "gflops": round(gflops, 1),
            "matmul_gflops": round(mm_gflops, 1),
            "fraction_of_matmul": round(gflops / mm_gflops, 3),
            "fraction_of_peak": round(gflops / peak, 3),
        }
        results[w.experiment] = row
        print(f"{w.experiment:<16} {w.model:<22} {w.batch_size:>5} "
              f"{row['kb_steps_per_s']:>9.0f} {row['dataloader_steps_per_s']:>9.0f} "
              f"{row['speedup']:>6.2f}x {gflops:>7.1f} {mm_gflops:>10.1f} "
              f"{gflops / mm_gflops:>5.0%} {gflops / peak:>7.0%}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
