"""A tiny stand-in experiment (no torch) so predictions can name one and runs stay fast.

Reproduces: nothing; it follows the experiment contract in kb/formats/experiment.py.
"""

import random

SCALES = {
    "smoke": {"mean": 2.0, "noise": 0.1},
    "full": {"mean": 2.0, "noise": 0.05},
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["mlp"]},
    "full": {"data_scale": "small", "architectures": ["mlp"]},
}
METRICS = {
    "ratio": "a noisy ratio around the configured mean",
}


def run(config: dict, seed: int, device: str) -> dict:
    rng = random.Random(seed)
    value = config["mean"] + rng.gauss(0.0, config["noise"])
    return {"metrics": {"ratio": value}, "curves": {"trace": {"x": [0, 1], "y": [0.0, value]}}}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
