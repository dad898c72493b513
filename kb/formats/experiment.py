"""The experiment contract: what a `repro/<name>.py` script declares and provides.

A reproduction is one readable file (the nanoGPT / airbench school). At the top, plain
literal constants that kb reads *without running the script* (so `kb check` never
executes pull-request code):

    SCALES = {                       # named configurations; "smoke" and "full" required
        "smoke": {"width": 128, "steps": 600},    # CPU, minutes, offline data
        "full": {"width": 512, "steps": 20000},   # the paper's setting, on a GPU
    }
    REGIME = {                       # what each scale stands for, to grade indirectness
        "smoke": {"data_scale": "toy", "architectures": ["mlp"], "width": 64},
        "full": {"data_scale": "small", "architectures": ["vgg"], "width": [64, 512]},
    }
    METRICS = {                      # every metric `run` reports, with its meaning and units
        "steps_ratio_noisy_vs_bn": "steps to 90% train accuracy, noisy BN over BN",
    }

and one function from a configuration, a seed and a device to metrics:

    def run(config: dict, seed: int, device: str) -> dict:
        ...
        return {"metrics": {"steps_ratio_noisy_vs_bn": 1.04},
                "curves": {"train_acc_bn": {"x": [0, 50, ...], "y": [0.1, 0.4, ...]}}}

A regime's optional `width` and `depth` (one integer, or `[smallest, largest]` for a sweep)
are compared with a claim's `scope.width` / `scope.depth`: a run counts as inside the scope
when the widths it measured overlap the scope's range.

`metrics` maps each name in METRICS to a finite float; `curves` (optional) maps a name to
x and y lists for the site's plots; `bounds` (optional) names the metrics this seed could
only bound, because the event did not happen within the budget: "lower" (the true value
is at least the reported one, e.g. steps-to-target at the step budget) or "upper". The
engine uses a bound only in the direction in which it is valid.

A METRICS entry may also be a dict: `{"description": ..., "label": "Steps to target, noisy
BN ÷ BN", "unit": "×", "scale": "log"}`; `label` and `unit` are for readers, and `scale:
"log"` puts the metric's intervals on the log scale (ratios, other positive multiplicative
quantities). Two more optional literals:

    VALIDITY = {                     # checks that must pass for the verdicts to count
        "noise_destabilises": {"metric": "input_shift_ratio_noisy_vs_bn", "expect": "> 1",
                               "why": "noisy BN must move layer inputs more than BN"},
    }
    MULTIVERSE = {                   # free design constants, with values a reasonable
        "smoke": {"noise_strength": [0.1, 0.25, 0.5]},   # researcher might pick
    }

A check compares the mean over the pooled seeds of a metric with an expected outcome (the
prediction grammar: `> x`, `between a b`, ...); if it fails, the verdicts are `invalid`.
Each multiverse list includes the registered value; `kb run --multiverse` runs the others
one constant at a time, as variants that decide robustness and are never pooled.

The script ends with

    if __name__ == "__main__":
        from kb.experiment import standalone
        standalone(run, SCALES)

so `python repro/<name>.py --scale smoke --seed 0 [--device cpu] [--set key=value]`
runs it without kb. The docstring names the paper and section it reproduces, the claims
and predictions it tests, and the expected runtime of each scale.

Checkpoints (optional). A long seed on a Slurm cluster can be preempted or reach its time
limit; kb then requeues it, and the seed can resume instead of starting over:

    from kb.experiment import checkpoint_dir

    def run(config, seed, device):
        folder = checkpoint_dir()            # None when run without kb: no checkpoints
        state = folder / "state.pt" if folder else None
        step = 0
        if state and state.exists():
            step, weights = torch.load(state).values()   # resume where the job was stopped
        ...
            if state and step % 100 == 0:
                torch.save({"step": step, "weights": model.state_dict()}, state)

The folder is private to one seed of one submitted run plan: its key is the seed key
(script hash, config and seed), under the submission's own folder. A requeued job finds
its own last checkpoint; another run, another config or an edited script never does.
Write the file atomically (save to a temporary name, then rename) so a job killed while
saving leaves the previous checkpoint whole, and make resuming give the same metrics as
an uninterrupted run (restore the random generators too), since seeds are compared
across runs. Local runs get an empty folder per seed, removed when `kb run` ends.
"""

from __future__ import annotations

import ast
import json
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.formats.errors import KbError, Problem
from kb.formats.files import FileRefused, read_inside
from kb.formats.schema import DataScale

REQUIRED_SCALES = ("smoke", "full")
CHECKPOINT_ENV = "KB_CHECKPOINT_DIR"  # set by kb's runner for each seed
_LITERALS = ("SCALES", "REGIME", "METRICS")
_OPTIONAL_LITERALS = ("VALIDITY", "MULTIVERSE")
METRIC_SCALES = ("linear", "log")
BOUNDS = ("lower", "upper")
# A script is meant to be read top to bottom in under ~300 lines (~15 kB); 1 MB is a
# generated or hostile file, and parsing it would be the slowest part of `kb check`.
MAX_SCRIPT_BYTES = 1_000_000

RunFn = Callable[[dict[str, Any], int, str], Mapping[str, Any]]


class ExperimentError(KbError):
    """An experiment script that breaks the contract, or a result that does."""


@dataclass(frozen=True)
class MetricSpec:
    """A metric as declared in METRICS: a description, or a dict with a label, unit and scale."""

    name: str
    description: str
    label: str | None = None  # short human label for tables; None: the site derives one
    unit: str = ""
    scale: str = "linear"  # "log": intervals on the log scale (ratios, positive multiplicative)


@dataclass(frozen=True)
class ValidityCheck:
    """A check the run must pass for its verdicts to count: the mean of `metric` meets `expect`."""

    name: str
    metric: str
    expect: str
    why: str


@dataclass(frozen=True)
class ExperimentInfo:
    """What a script declares, read statically from its source."""

    name: str
    path: Path
    docstring: str
    scales: dict[str, dict[str, Any]]
    regime: dict[str, dict[str, Any]]
    metrics: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    metric_specs: dict[str, MetricSpec] = field(default_factory=dict)
    validity: dict[str, ValidityCheck] = field(default_factory=dict)
    # scale -> config key -> the values a reasonable researcher might pick (registered one included)
    multiverse: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.docstring.strip().splitlines()[0] if self.docstring.strip() else self.name


def read_experiment(path: Path, shown_as: str, *, root: Path | None = None) -> ExperimentInfo:
    """Read SCALES, REGIME and METRICS from a script's source, without importing it.

    Only a regular file of at most MAX_SCRIPT_BYTES inside `root` (default: the script's
    folder) is read; see kb/formats/files.py.
    """
    problems: list[Problem] = []
    name = path.stem
    try:
        source = read_inside(path, root if root is not None else path.parent, MAX_SCRIPT_BYTES)
    except (FileRefused, OSError) as exc:
        message = exc.message if isinstance(exc, FileRefused) else f"cannot read file: {exc.strerror}"
        return ExperimentInfo(name, path, "", {}, {}, {}, [Problem(shown_as, 1, 1, "", message)])
    try:
        tree = ast.parse(source, filename=shown_as)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", 0) or 0
        column = getattr(exc, "offset", 0) or 0
        message = getattr(exc, "msg", str(exc))
        problem = Problem(shown_as, line, column, "", f"not valid Python: {message}")
        return ExperimentInfo(name, path, "", {}, {}, {}, [problem])
    found: dict[str, Any] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            target = node.targets[0].id
            if target in _LITERALS or target in _OPTIONAL_LITERALS:
                try:
                    found[target] = ast.literal_eval(node.value)
                except ValueError:
                    problems.append(
                        Problem(
                            shown_as,
                            node.lineno,
                            node.col_offset + 1,
                            target,
                            "must be a plain literal (dicts, lists, strings, numbers) so kb can read it without running the script",
                        )
                    )
    has_run = any(isinstance(n, ast.FunctionDef) and n.name == "run" for n in tree.body)

    def where(name: str) -> tuple[int, int]:
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets
            ):
                return node.lineno, node.col_offset + 1
        return 1, 1

    for literal in _LITERALS:
        if literal not in found and not any(p.field == literal for p in problems):
            problems.append(
                Problem(
                    shown_as,
                    1,
                    1,
                    literal,
                    f"missing top-level {literal} = {{...}} (see the experiment contract in kb/formats/experiment.py)",
                )
            )
    if not has_run:
        problems.append(Problem(shown_as, 1, 1, "run", "missing `def run(config, seed, device)`"))
    scales = found.get("SCALES", {})
    regime = found.get("REGIME", {})
    metrics = found.get("METRICS", {})
    if "SCALES" in found:
        line, col = where("SCALES")
        if not isinstance(scales, dict) or not all(isinstance(v, dict) for v in scales.values()):
            problems.append(
                Problem(shown_as, line, col, "SCALES", "must map scale names to config dicts")
            )
            scales = {}
        for required in REQUIRED_SCALES:
            if scales and required not in scales:
                problems.append(
                    Problem(shown_as, line, col, "SCALES", f"missing the '{required}' scale")
                )
    if "REGIME" in found:
        line, col = where("REGIME")
        if not isinstance(regime, dict):
            problems.append(
                Problem(shown_as, line, col, "REGIME", "must map scale names to regimes")
            )
            regime = {}
        allowed = {d.value for d in DataScale}
        for scale in scales:
            entry = regime.get(scale)
            if not isinstance(entry, dict) or entry.get("data_scale") not in allowed:
                problems.append(
                    Problem(
                        shown_as,
                        line,
                        col,
                        f"REGIME.{scale}",
                        f"needs data_scale: one of {', '.join(sorted(allowed))}",
                    )
                )
            for key in ("width", "depth"):
                if isinstance(entry, dict) and key in entry and regime_range(entry[key]) is None:
                    problems.append(
                        Problem(
                            shown_as,
                            line,
                            col,
                            f"REGIME.{scale}.{key}",
                            "must be a positive integer or [smallest, largest]",
                        )
                    )
    if "METRICS" in found:
        line, col = where("METRICS")
        specs, metric_problems = _metric_specs(metrics)
        problems += [Problem(shown_as, line, col, f, m) for f, m in metric_problems]
        metrics = {name: spec.description for name, spec in specs.items()}
    else:
        specs = {}
    validity: dict[str, ValidityCheck] = {}
    if "VALIDITY" in found:
        line, col = where("VALIDITY")
        validity, found_problems = _validity(found["VALIDITY"], specs)
        problems += [Problem(shown_as, line, col, f, m) for f, m in found_problems]
    multiverse: dict[str, dict[str, list[Any]]] = {}
    if "MULTIVERSE" in found:
        line, col = where("MULTIVERSE")
        multiverse, found_problems = _multiverse(found["MULTIVERSE"], scales)
        problems += [Problem(shown_as, line, col, f, m) for f, m in found_problems]
    return ExperimentInfo(
        name,
        path,
        ast.get_docstring(tree) or "",
        scales,
        regime,
        metrics,
        problems,
        specs,
        validity,
        multiverse,
    )


def regime_range(value: Any) -> tuple[int, int] | None:
    """A REGIME width or depth as (smallest, largest); None if it is neither form."""

    def positive(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    if positive(value):
        return (value, value)
    if isinstance(value, list) and len(value) == 2 and all(map(positive, value)):
        low, high = value
        return (low, high) if low <= high else None
    return None


def _metric_specs(metrics: Any) -> tuple[dict[str, MetricSpec], list[tuple[str, str]]]:
    shape = (
        "must map metric names to a description, or to {'description': ..., 'label': ..., "
        "'unit': ..., 'scale': 'linear' | 'log'}"
    )
    if not isinstance(metrics, dict) or not metrics:
        return {}, [("METRICS", shape)]
    specs: dict[str, MetricSpec] = {}
    problems: list[tuple[str, str]] = []
    allowed = {"description", "label", "unit", "scale"}
    for name, value in metrics.items():
        where = f"METRICS.{name}"
        if not isinstance(name, str):
            problems.append(("METRICS", shape))
        elif isinstance(value, str):
            specs[name] = MetricSpec(name, value)
        elif isinstance(value, dict) and isinstance(value.get("description"), str):
            unknown = sorted(set(value) - allowed)
            scale = value.get("scale", "linear")
            if unknown:
                problems.append((where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"))
            elif scale not in METRIC_SCALES:
                problems.append((f"{where}.scale", f"{scale!r} is not one of {', '.join(METRIC_SCALES)}"))
            elif not all(isinstance(value.get(k, ""), str) for k in ("label", "unit")):
                problems.append((where, "label and unit must be strings"))
            else:
                specs[name] = MetricSpec(
                    name, value["description"], value.get("label"), value.get("unit", ""), scale
                )
        else:
            problems.append((where, shape))
    return specs, problems


def _validity(
    checks: Any, specs: dict[str, MetricSpec]
) -> tuple[dict[str, ValidityCheck], list[tuple[str, str]]]:
    from kb.formats.expectation import Expectation

    shape = "must map check names to {'metric': ..., 'expect': ..., 'why': ...}"
    if not isinstance(checks, dict):
        return {}, [("VALIDITY", shape)]
    out: dict[str, ValidityCheck] = {}
    problems: list[tuple[str, str]] = []
    for name, check in checks.items():
        where = f"VALIDITY.{name}"
        if not (
            isinstance(name, str)
            and isinstance(check, dict)
            and set(check) == {"metric", "expect", "why"}
            and all(isinstance(v, str) for v in check.values())
        ):
            problems.append((where, shape))
            continue
        if specs and check["metric"] not in specs:
            problems.append((f"{where}.metric", f"'{check['metric']}' is not declared in METRICS"))
            continue
        try:
            Expectation.parse(check["expect"])
        except ValueError as exc:
            problems.append((f"{where}.expect", str(exc)))
            continue
        out[name] = ValidityCheck(name, check["metric"], check["expect"], check["why"])
    return out, problems


def _multiverse(
    declared: Any, scales: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, list[Any]]], list[tuple[str, str]]]:
    shape = "must map scale names to {config key: [values, ...]}"
    if not isinstance(declared, dict):
        return {}, [("MULTIVERSE", shape)]
    out: dict[str, dict[str, list[Any]]] = {}
    problems: list[tuple[str, str]] = []
    for scale, constants in declared.items():
        if scale not in scales or not isinstance(constants, dict):
            problems.append((f"MULTIVERSE.{scale}", f"{shape}; '{scale}' is not a scale in SCALES"))
            continue
        config = scales[scale]
        for key, values in constants.items():
            where = f"MULTIVERSE.{scale}.{key}"
            if key not in config:
                problems.append((where, f"'{key}' is not a config key of the '{scale}' scale"))
            elif not isinstance(values, list) or len(values) < 2:
                problems.append((where, "needs a list of at least two values"))
            elif config[key] not in values:
                problems.append((where, f"must include the registered value {config[key]!r}"))
            else:
                out.setdefault(scale, {})[key] = values
    return out, problems


def check_result(
    result: Any, metrics: Mapping[str, str]
) -> tuple[dict[str, float], dict[str, dict[str, list[float]]]]:
    """Validate what `run` returned; raise ExperimentError naming what is wrong."""
    if not isinstance(result, Mapping) or "metrics" not in result:
        raise ExperimentError(
            f"run() must return {{'metrics': {{...}}, 'curves': {{...}}}}, got {type(result).__name__}"
        )
    raw = result["metrics"]
    if not isinstance(raw, Mapping):
        raise ExperimentError("'metrics' must be a mapping of names to numbers")
    values: dict[str, float] = {}
    for name in metrics:
        if name not in raw:
            raise ExperimentError(f"metric '{name}' declared in METRICS was not reported")
    for name, value in raw.items():
        if name not in metrics:
            raise ExperimentError(f"metric '{name}' is not declared in METRICS")
        values[name] = _finite(value, f"metric '{name}'")
    curves: dict[str, dict[str, list[float]]] = {}
    raw_curves = result.get("curves") or {}
    if not isinstance(raw_curves, Mapping):
        raise ExperimentError("'curves' must be a mapping of names to {'x': [...], 'y': [...]}")
    for name, curve in raw_curves.items():
        if (
            not isinstance(curve, Mapping)
            or set(curve) != {"x", "y"}
            or not all(isinstance(curve[axis], list | tuple) for axis in ("x", "y"))
            or len(curve["x"]) != len(curve["y"])
        ):
            raise ExperimentError(
                f"curve '{name}' must be {{'x': [...], 'y': [...]}} of equal length"
            )
        curves[str(name)] = {
            axis: [_finite(v, f"curve '{name}' {axis}[{i}]") for i, v in enumerate(curve[axis])]
            for axis in ("x", "y")
        }
    return values, curves


def check_bounds(result: Any, metrics: Mapping[str, Any]) -> dict[str, str]:
    """The optional 'bounds' of a result: metrics whose value is only a lower or upper bound."""
    raw = result.get("bounds") if isinstance(result, Mapping) else None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ExperimentError("'bounds' must map metric names to 'lower' or 'upper'")
    out: dict[str, str] = {}
    for name, bound in raw.items():
        if name not in metrics:
            raise ExperimentError(f"bound for '{name}', which is not declared in METRICS")
        if bound not in BOUNDS:
            raise ExperimentError(f"bound of '{name}' must be 'lower' or 'upper', got {bound!r}")
        out[str(name)] = str(bound)
    return out


def _finite(value: Any, what: str) -> float:
    """A reported number as a float: ints, floats and numpy's numbers, never text or a bool
    (`'1.5'` or `True` is a bug in the script, not a measurement), never NaN or infinity
    (JSON cannot hold them: a record with one would not be read back)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ExperimentError(f"{what} is not a number: {shown} ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number):
        raise ExperimentError(f"{what} is not finite: {number}")
    return number


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`key=value` pairs (values parsed as JSON when they can be) applied to a config copy."""
    out = dict(config)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in config:
            raise ExperimentError(
                f"--set {item!r}: expected key=value with key one of {', '.join(config)}"
            )
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out
