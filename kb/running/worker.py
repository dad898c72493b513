"""Child-process side of `kb run`: import one experiment script, run one seed, report.

    python -m kb.running.worker SCRIPT RESULT_JSON --config JSON --seed N --device DEV

The parent gives each seed its own process (a crash, a hang or a runaway allocation
cannot take other seeds with it) and reads RESULT_JSON afterwards. Whatever happens in
the experiment, the worker writes either {"ok": true, metrics, curves, device} or
{"ok": false, "reason": ...}; if it dies before that, the parent names the signal.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from kb.experiment import resolve_device
from kb.formats.experiment import ExperimentError, check_bounds, check_result
from kb.formats.records import atomic_write

# How running out of address space shows, in an exception or in the output of a process that
# died of it: PyTorch's allocators, the dynamic loader mapping a large library (importing
# torch under a low cap), C++'s bad_alloc, and OpenBLAS reserving its buffers.
OOM_MARKERS = (
    "can't allocate memory",
    "Cannot allocate memory",
    "cannot allocate memory",
    "out of memory",
    "std::bad_alloc",
    "failed to map segment from shared object",
    "Memory allocation still failed",
)


def memory_cap(memory_mb: int) -> int:
    """The cap in bytes a worker asked for `memory_mb` gets (0: none): a lower hard
    limit already set on kb itself wins, since a process cannot raise it."""
    if memory_mb <= 0:
        return 0
    import resource

    cap = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    return cap


def out_of_memory(memory_mb: int, detail: str = "") -> str:
    """The reason of a seed that hit its memory cap, naming the cap."""
    limit = memory_cap(memory_mb) // (1024 * 1024)
    return f"out of memory (limit {limit} MiB)" + (f": {detail}" if detail else "")


def _seed_everything(seed: int) -> None:
    """Seed the global generators the script uses (not importing torch for scripts that don't)."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _device(requested: str) -> str:
    if requested == "auto" and "torch" not in sys.modules:
        return "cpu"  # a script without torch cannot use an accelerator; don't import it
    device = resolve_device(requested)
    if device == "cuda":
        import torch

        # Several GPUs: the parent numbers its job slots so parallel seeds spread out.
        slot = int(os.environ.get("KB_JOB_SLOT", "0"))
        device = f"cuda:{slot % max(1, torch.cuda.device_count())}"
    return device


def _gpu_name(device: str) -> str | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return str(torch.cuda.get_device_name(torch.device(device)))


def run_one(
    script: Path, config: dict[str, Any], seed: int, requested_device: str
) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location(f"repro_{script.stem}", script)
    if spec is None or spec.loader is None:
        return {"ok": False, "reason": f"cannot import {script.name}"}
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    threads = os.environ.get("KB_THREADS")
    if threads and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))
    device = _device(requested_device)
    _seed_everything(seed)
    result = module.run(dict(config), seed, device)
    metrics, curves = check_result(result, module.METRICS)
    bounds = check_bounds(result, module.METRICS)
    return {
        "ok": True,
        "metrics": metrics,
        "curves": curves,
        "bounds": bounds,
        "device": device,
        "gpu": _gpu_name(device),
    }


def die_with_parent() -> None:
    """On Linux, ask the kernel to kill this worker if `kb run` itself is killed."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:
        pass
    if os.getppid() == 1:  # the parent died before the request took effect
        sys.exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kb.running.worker")
    parser.add_argument("script", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--config", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--memory-mb", type=int, default=0, help="address-space cap; 0 = none")
    args = parser.parse_args(argv)
    die_with_parent()
    cap = memory_cap(args.memory_mb)
    if cap:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        outcome = run_one(args.script, json.loads(args.config), args.seed, args.device)
    except ExperimentError as exc:
        outcome = {"ok": False, "reason": f"malformed result: {exc.message}"}
    except MemoryError:
        traceback.print_exc()
        outcome = {"ok": False, "reason": out_of_memory(args.memory_mb, "MemoryError")}
    except Exception as exc:  # the experiment's bug: record it, with the traceback in the log
        traceback.print_exc()
        text = f"{type(exc).__name__}: {exc}"
        if any(marker in str(exc) for marker in OOM_MARKERS):
            # Under a cap, importing torch fails with an ImportError ("failed to map segment").
            reason = out_of_memory(args.memory_mb, text[:200]) if cap else f"out of memory ({text[:200]})"
            outcome = {"ok": False, "reason": reason}
        else:
            outcome = {"ok": False, "reason": f"crashed: {text[:300]}"}
    atomic_write(args.result, json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
