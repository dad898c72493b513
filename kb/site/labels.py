"""Words for people where the files have identifiers: metric labels, regime lines, configs.

A metric's label and unit are declared once, with the metric, in the experiment's METRICS
(`MetricSpec.label`, `.unit`); when a script gives none, a readable label is derived from
the name (`steps_ratio_noisy_vs_bn` → "Steps ratio, noisy vs BN"). A verdict's regime is
one short line built from the experiment's REGIME, the scale's config and the device of the
counted runs: "MNIST-1D · MLP 8×128 · smoke · CPU".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from kb.formats.experiment import ExperimentInfo
from kb.site.html import esc, fmt

# Words that are initialisms or names, as they are written in prose.
_WORDS = {
    "acc": "accuracy", "bn": "BN", "ln": "LN", "lr": "LR", "ics": "ICS", "mlp": "MLP",
    "cnn": "CNN", "vgg": "VGG", "resnet": "ResNet", "nngp": "NNGP", "ntk": "NTK", "sgd": "SGD",
    "gd": "GD", "adam": "Adam", "mup": "μP", "sp": "SP", "vs": "vs", "of": "of", "to": "to",
    "per": "per", "and": "and", "in": "in", "at": "at", "the": "the", "std": "std", "max": "max",
    "min": "min", "avg": "average", "num": "number of", "n": "n", "init": "initialization",
    "eos": "EoS", "gpu": "GPU", "cpu": "CPU", "mse": "MSE", "kl": "KL", "relu": "ReLU",
    "transformer": "Transformer", "sam": "SAM", "iid": "IID", "svd": "SVD", "rel": "relative",
    "corr": "correlation", "grad": "gradient", "wd": "weight decay", "r2": "R²", "log2": "log₂",
    "pt": "point", "opt": "optimal", "div": "÷",
}
DATA_NAMES = {
    "mnist1d": "MNIST-1D", "mnist": "MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
    "digits": "digits (8×8)", "imagenet": "ImageNet", "svhn": "SVHN", "fashion_mnist": "Fashion-MNIST",
}
ARCH_NAMES = {
    "mlp": "MLP", "cnn": "CNN", "vgg": "VGG", "resnet": "ResNet", "transformer": "Transformer",
    "random-features": "random features", "embed_mlp": "MLP",
}
DEVICES = {"cpu": "CPU", "cuda": "GPU", "mps": "Apple GPU"}


def words(name: str) -> str:
    """An identifier as words: 'final_train_acc_noisy_bn' -> 'Final train accuracy noisy BN'."""
    parts = [p for p in re.split(r"[_\-\s]+", name) if p]
    if not parts:
        return name
    out = [_WORDS.get(p.lower(), p) for p in parts]
    text = " ".join(out)
    return text[0].upper() + text[1:] if text[0].isascii() else text


def metric_label(info: ExperimentInfo | None, metric: str) -> str:
    """The declared label, else one derived from the name."""
    spec = info.metric_specs.get(metric) if info else None
    if spec is not None and spec.label:
        return spec.label
    return words(metric)


def metric_unit(info: ExperimentInfo | None, metric: str) -> str:
    spec = info.metric_specs.get(metric) if info else None
    return spec.unit if spec is not None else ""


def axis_label(info: ExperimentInfo | None, metric: str) -> str:
    """'Steps ratio noisy vs BN (×)': the label with its unit, for a plot axis."""
    unit = metric_unit(info, metric)
    label = metric_label(info, metric)
    return label + (f" ({unit})" if unit and unit.lower() != label.lower() else "")


def metric_html(info: ExperimentInfo | None, metric: str) -> str:
    """The label, with the identifier a contributor writes in YAML as its tooltip."""
    return f'<span class="kb-metric" title="{esc(metric)}">{esc(metric_label(info, metric))}</span>'


def _dims(config: Mapping[str, Any]) -> str:
    width, depth, widths = config.get("width"), config.get("depth"), config.get("widths")
    if isinstance(depth, int) and isinstance(width, int):
        return f"{depth}×{width}"
    if isinstance(width, int):
        return f"width {fmt(width)}"
    if isinstance(widths, list) and widths and all(isinstance(w, int) for w in widths):
        return f"widths {fmt(min(widths))}–{fmt(max(widths))}"
    return ""


def regime_text(
    info: ExperimentInfo | None, scale: str | None, devices: Iterable[str] = ()
) -> str:
    """Where a verdict was measured, in a few words: data · model · scale · device."""
    if info is None or scale is None:
        return " · ".join(p for p in (scale, _devices(devices)) if p) or "regime unknown"
    config = info.scales.get(scale, {})
    regime = info.regime.get(scale, {})
    data = config.get("data") or regime.get("data")
    if isinstance(data, str) and data:
        data_text = DATA_NAMES.get(data.lower(), data)
    else:
        data_text = f"{regime.get('data_scale', 'unknown')} data"
    model = config.get("model") if isinstance(config.get("model"), str) else None
    archs = regime.get("architectures") or []
    arch = ARCH_NAMES.get(model or "", "") or "/".join(ARCH_NAMES.get(a, a) for a in archs if isinstance(a, str))
    model_text = " ".join(p for p in (arch, _dims(config)) if p)
    return " · ".join(p for p in (data_text, model_text, scale, _devices(devices)) if p)


def _devices(devices: Iterable[str]) -> str:
    names = sorted({DEVICES.get(d.split(":")[0].lower(), d) for d in devices if d})
    return "+".join(names)


def value_text(value: Any) -> str:
    """A config value for a table cell (numbers for people, lists inline)."""
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "—"
    if isinstance(value, int | float):
        return fmt(float(value), digits=4)
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {value_text(v)}" for k, v in sorted(value.items()))
    return str(value)


def config_rows(configs: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Configs side by side: one row per key, one column per config (HTML, escaped)."""
    names = list(configs)
    keys = sorted({k for c in configs.values() for k in c})
    rows = []
    for key in keys:
        cells = [esc(value_text(configs[n][key])) if key in configs[n] else "—" for n in names]
        rows.append([f'<code>{esc(key)}</code>', *cells])
    return names, rows
