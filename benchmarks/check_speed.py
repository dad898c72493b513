"""How fast `kb check` and `kb --help` are, against targets and against check-jsonschema.

    python benchmarks/check_speed.py [--sizes 1000 10000] [--repeat 3]

Targets (issue 2): `kb check` <= 0.5 s for 1,000 claims and <= 3 s for 10,000; at most half
the time check-jsonschema takes to validate the same files against the exported schema
(which does less: no cross-file checks, no references); `kb --help` <= 0.15 s.
The machine is shared and noisy, so each figure is the best of `--repeat` runs, and the
comparison is a ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _generate import generate

BIN = Path(sys.executable).parent


def best_of(repeat: int, argv: list[str], cwd: Path) -> tuple[float, int]:
    times, code = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        code = subprocess.run(argv, cwd=cwd, capture_output=True).returncode
        times.append(time.perf_counter() - start)
    return min(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    kb = str(BIN / "kb")
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        help_time, _ = best_of(args.repeat * 3, [kb, "--help"], Path(tmp))
        results["help_s"] = round(help_time, 3)
        for size in args.sizes:
            root = generate(Path(tmp) / f"kb{size}", size)
            # Stored statuses must match the derived ones for `kb check` to pass (untimed).
            subprocess.run([kb, "status", "--write"], cwd=root, check=True, capture_output=True)
            schema = root / "claim.schema.json"
            subprocess.run([kb, "schema", "-o", str(schema)], check=True)
            kb_time, kb_code = best_of(args.repeat, [kb, "check"], root)
            files = [str(p) for p in sorted((root / "claims").rglob("*.yaml"))]
            cj_time, cj_code = best_of(1, [str(BIN / "check-jsonschema"), "--schemafile", str(schema), *files], root)
            results[f"check_{size}"] = {
                "kb_s": round(kb_time, 3),
                "kb_exit": kb_code,
                "check_jsonschema_s": round(cj_time, 3),
                "check_jsonschema_exit": cj_code,
                "ratio_kb_over_check_jsonschema": round(kb_time / cj_time, 3),
            }
            print(f"{size:>6} claims: kb check {kb_time:.2f} s (exit {kb_code}); check-jsonschema {cj_time:.2f} s (exit {cj_code}); ratio {kb_time / cj_time:.2f}", flush=True)
    print(f"kb --help: {help_time:.3f} s")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
