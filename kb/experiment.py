"""What an experiment script imports from kb at run time: `standalone` and `checkpoint_dir`.

The contract itself (the literals kb reads without running a script, the result check) is
`kb.formats.experiment`. This module is the small, stable surface that `repro/*.py`
scripts import, so kb's internals can move without changing a script's hash (and so
without making its recorded runs stale).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kb.formats.experiment import CHECKPOINT_ENV, RunFn, apply_overrides


def checkpoint_dir() -> Path | None:
    """This seed's private checkpoint folder (created), or None outside kb's runner."""
    value = os.environ.get(CHECKPOINT_ENV)
    if not value:
        return None
    folder = Path(value)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def resolve_device(requested: str) -> str:
    """'auto' becomes cuda (or mps) when present, else cpu; anything else is kept as asked."""
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def standalone(run: RunFn, scales: Mapping[str, dict[str, Any]]) -> None:
    """Command line for running one script directly, without kb's runner."""
    import argparse
    import time

    parser = argparse.ArgumentParser(
        description="Run this reproduction once and print its metrics as JSON."
    )
    parser.add_argument("--scale", default="smoke", choices=sorted(scales))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    config = apply_overrides(scales[args.scale], args.overrides)
    started = time.perf_counter()
    result = run(config, args.seed, resolve_device(args.device))
    metrics = dict(result["metrics"])
    print(
        json.dumps(
            {
                "scale": args.scale,
                "seed": args.seed,
                "metrics": metrics,
                "wall_s": round(time.perf_counter() - started, 2),
            },
            indent=2,
        )
    )
    sys.stdout.flush()
