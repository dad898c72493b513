"""Tuning budget: does a "new" method's gain survive giving the baseline the same search budget?

Reproduces (in spirit): Melis, Dyer & Blunsom 2018, "On the State of the Art of Evaluation in
Neural Language Models" (ICLR 2018; abstract and Sec. 1), and Lucic, Kurach, Michalski, Gelly
& Bousquet 2018, "Are GANs Created Equal? A Large-Scale Study" (NeurIPS 2018; abstract), with
the budget curves of Dodge, Gururangan, Card, Schwartz & Smith 2019, "Show Your Work"
(EMNLP 2019). Melis et al. found that with "large-scale automatic black-box hyperparameter
tuning" for every model, "standard LSTM architectures, when properly regularised, outperform
more recent models"; Lucic et al. that "improvements can arise from a higher computational
budget and tuning more than fundamental algorithmic changes". The typical paper tunes its
new method hard and runs the baseline with a handful of settings; the question is how much
of the resulting gap is the budget.

Tests:  gains-from-unequal-tuning / baseline-recovers-with-budget
        reported-gains-shrink / gain-shrinks-in-toy-replication
        (both: gain_ratio_equal_budget_over_unequal_budget <= 0.5)

Two "methods" for the same MLP on MNIST-1D: the baseline is SGD with heavy-ball momentum, the
"new method" is Adam. Each has a random-search space over four hyperparameters (learning
rate, log-uniform over `space_decades` decades around a centre; momentum / beta1 uniform in
[0.5, 0.99]; weight decay log-uniform in [1e-6, 1e-2]; width in {32, 64, 128}). Each kb seed
draws `n_trials` configurations per method and trains each for `trial_steps` steps on 3,000
signals, selecting on a 1,000-signal validation set and reporting the test accuracy of the
selected configuration on a separate 1,000-signal test set. From this pool the script
computes, exactly and without resampling noise, the expected test accuracy of the
validation-best configuration among B trials drawn without replacement (the expected-maximum
estimator of Dodge et al., in the unbiased without-replacement form of Tang et al. 2020),
for every B from 1 to n_trials. Then:

- gain_unequal_budget = new method at B = 50  minus  baseline at B = 5   (the typical paper)
- gain_equal_budget   = new method at B = 50  minus  baseline at B = 50  (the fair comparison)
- gain_ratio_equal_budget_over_unequal_budget = their ratio: 0 means the whole apparent gain
  was the budget, 1 means none of it was; negative means the ranking flips.

Smoke: MNIST-1D (5,000 signals, generated offline), 2 x 60 trials of 400 SGD/Adam steps (batch
128) on an MLP with 2 hidden layers; measured 23 s of CPU time (25 s wall) per seed on one
thread. Full: the same
design with 200 trials per method and 3,000 steps per trial (~25 min per seed, one thread).

Deviations from the papers:
- Melis et al. tuned LSTMs, RHNs and NAS cells on Penn Treebank, WikiText-2 and Enwik8 with a
  black-box (Gaussian-process bandit) tuner at equal parameter budgets [checked: abstract and
  introduction; the tuner's trial counts are not found]; Lucic et al. compared GANs with
  "wide then narrow" searches [checked, secondary]. We compare two optimisers for one small
  MLP on a toy task, with plain random search, because it is the setting where a whole
  search fits on a CPU and where the expected-maximum curve can be computed exactly.
- The budgets 5 and 50 are those of the registered prediction; the search ranges, the
  centres of the learning-rate ranges (SGD 0.03, Adam 0.003), the trial length and the width
  choices are ours [no paper constant: none of the three papers' spaces apply to this model].
- "New method = Adam" is our choice of a change that could plausibly win on its own merits:
  the experiment must be able to fail (a real gain that survives the equal budget gives a
  ratio near 1).
- Dodge et al.'s original estimator samples with replacement; we use the without-replacement
  form (Tang et al. 2020, castorini/meanmax) [checked: abstracts] so that B = n_trials is the
  best trial of the pool.
"""

import math

import torch

from kb.lab.data import Dataset, mnist1d
from kb.lab.models import MLP
from kb.lab.rng import generator
from kb.lab.train import evaluate, train

SCALES = {
    "smoke": {
        "n_train": 3000,  # examples used for training
        "n_val": 1000,  # examples used to select the configuration
        "n_test": 1000,  # examples used to report the selected configuration
        "depth": 2,  # hidden layers
        "widths": [32, 64, 128],  # width is one of the searched hyperparameters
        "trial_steps": 400,  # optimizer steps per trial
        "batch_size": 128,
        "n_trials": 60,  # random-search pool per method (>= the large budget)
        "small_budget": 5,  # trials the typical paper gives the baseline
        "large_budget": 50,  # trials the typical paper gives its own method
        "space_decades": 3,  # width of each learning-rate range, in decades
        "sgd_lr_centre": 0.03,  # geometric centre of the SGD learning-rate range
        "adam_lr_centre": 0.003,  # geometric centre of the Adam learning-rate range
    },
    "full": {
        "n_train": 3000,
        "n_val": 1000,
        "n_test": 1000,
        "depth": 2,
        "widths": [32, 64, 128, 256],
        "trial_steps": 3000,
        "batch_size": 128,
        "n_trials": 200,
        "small_budget": 5,
        "large_budget": 50,
        "space_decades": 3,
        "sgd_lr_centre": 0.03,
        "adam_lr_centre": 0.003,
    },
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["mlp"]},
    "full": {"data_scale": "toy", "architectures": ["mlp"]},
}
METRICS = {
    "gain_ratio_equal_budget_over_unequal_budget": {
        "description": "gain of the new method over the baseline when both get the large budget, "
        "divided by its gain when the baseline gets the small one (0 = the whole gain was the "
        "budget, 1 = none of it; < 0 = the ranking flips)",
        "label": "Gain at equal ÷ unequal budget",
        "unit": "",
    },
    "gain_unequal_budget": {
        "description": "expected test accuracy, new method at the large budget minus baseline at "
        "the small budget",
        "label": "Gain, unequal budgets",
        "unit": "",
    },
    "gain_equal_budget": {
        "description": "expected test accuracy, new method minus baseline, both at the large budget",
        "label": "Gain, equal budgets",
        "unit": "",
    },
    "ranking_flips": {
        "description": "1 if the sign of the gain differs between unequal and equal budgets, else 0",
        "label": "Ranking flips",
        "unit": "",
    },
    "test_acc_base_small_budget": {
        "description": "expected test accuracy of the baseline's validation-best of small_budget trials",
        "label": "Baseline, small budget",
        "unit": "",
    },
    "test_acc_base_large_budget": {
        "description": "expected test accuracy of the baseline's validation-best of large_budget trials",
        "label": "Baseline, large budget",
        "unit": "",
    },
    "test_acc_new_small_budget": {
        "description": "expected test accuracy of the new method's validation-best of small_budget trials",
        "label": "New method, small budget",
        "unit": "",
    },
    "test_acc_new_large_budget": {
        "description": "expected test accuracy of the new method's validation-best of large_budget trials",
        "label": "New method, large budget",
        "unit": "",
    },
    "best_lr_interior": {
        "description": "fraction of the two methods whose validation-best trial has a learning "
        "rate in the inner 80% (in log scale) of its search range",
        "label": "Best LR inside the range",
        "unit": "",
    },
}
VALIDITY = {
    "apparent_gain_exists": {
        "metric": "gain_unequal_budget",
        "expect": "> 0.005",
        "why": "the unequal-budget comparison must show a gain (> half a point) for the ratio "
        "to say how much of it the budget explains",
    },
    "models_learned": {
        "metric": "test_acc_base_large_budget",
        "expect": ">= 0.5",
        "why": "the tuned MLP must learn MNIST-1D (chance 0.1, logistic regression 0.32, "
        "converged MLP 0.68 per greydanus2020) or the search ranks noise",
    },
    "search_space_brackets_optimum": {
        "metric": "best_lr_interior",
        "expect": ">= 0.5",
        "why": "the best learning rate must lie inside the searched range, not at its edge, "
        "or a wider space (not a larger budget) is what a method lacks",
    },
}
MULTIVERSE = {
    "smoke": {
        "trial_steps": [200, 400, 800],  # per-trial training length
        "space_decades": [2, 3, 4],  # how wide the learning-rate search is
    },
}


def split_data(config, seed, device):
    """MNIST-1D with a validation set carved from the generated training examples."""
    n_fit, n_val = config["n_train"], config["n_val"]
    d = mnist1d(n_train=n_fit + n_val, n_test=config["n_test"], seed=seed, device=device)
    fit = Dataset(d.x_train[:n_fit], d.y_train[:n_fit], d.x_test, d.y_test, 10, d.name, d.meta)
    return fit, (d.x_train[n_fit:], d.y_train[n_fit:])


def sample_configs(config, method, n, seed):
    """n random-search configurations for "sgd" (baseline) or "adam" (new method)."""
    g = generator(seed)
    u = torch.rand(n, 4, generator=g, dtype=torch.float64).tolist()
    centre = config["sgd_lr_centre"] if method == "sgd" else config["adam_lr_centre"]
    half = config["space_decades"] / 2
    widths = config["widths"]
    out = []
    for a, b, c, d in u:
        out.append({
            "lr": centre * 10 ** (-half + 2 * half * a),
            "lr_position": a,  # where the LR sits in its range, 0..1 on the log scale
            "momentum": 0.5 + 0.49 * b,
            "weight_decay": 10 ** (-6 + 4 * c),
            "width": widths[min(int(d * len(widths)), len(widths) - 1)],
        })
    return out


def one_trial(config, method, hp, data, val, seed, device):
    """(validation accuracy, test accuracy) of one configuration; a diverged run scores 0 / 0.1."""
    model = MLP(40, hp["width"], config["depth"], 10, seed=seed)
    result = train(model, data, steps=config["trial_steps"], lr=hp["lr"], optimizer=method,
                   momentum=hp["momentum"], weight_decay=hp["weight_decay"],
                   batch_size=config["batch_size"], seed=seed, device=device,
                   eval_every=config["trial_steps"])
    if result.diverged or not math.isfinite(result.final_train_loss):
        return 0.0, 0.1
    return evaluate(model, *val)[1], result.final_test_acc


def expected_best(val, test, budget, seed):
    """Expected test accuracy of the validation-best of `budget` trials drawn without replacement.

    With trials sorted by validation accuracy (ties broken at random), the i-th lowest
    (1-based) is the best of a random subset of size B with probability C(i-1, B-1) / C(N, B).
    """
    n = len(val)
    ties = torch.rand(n, generator=generator(seed), dtype=torch.float64).tolist()
    order = sorted(range(n), key=lambda i: (val[i], ties[i]))
    total = math.comb(n, budget)
    return sum(math.comb(rank, budget - 1) / total * test[i]
               for rank, i in enumerate(order) if rank >= budget - 1)


def run(config, seed, device):
    if config["n_trials"] < config["large_budget"]:
        raise ValueError("n_trials must be at least large_budget")
    data, val = split_data(config, seed, device)
    pools = {}
    for k, method in enumerate(("sgd", "adam")):
        hps = sample_configs(config, method, config["n_trials"], seed * 7 + k)
        scores = [one_trial(config, method, hp, data, val, seed * 100_003 + i, device)
                  for i, hp in enumerate(hps)]
        pools[method] = (hps, [v for v, _ in scores], [t for _, t in scores])
    curves, at = {}, {}
    for method, (_hps, vals, tests) in pools.items():
        budgets = list(range(1, config["n_trials"] + 1))
        ys = [expected_best(vals, tests, b, seed) for b in budgets]
        curves[f"expected_test_acc_{method}"] = {"x": budgets, "y": ys}
        at[method] = {b: y for b, y in zip(budgets, ys, strict=True)}
    small, large = config["small_budget"], config["large_budget"]
    gain_unequal = at["adam"][large] - at["sgd"][small]
    gain_equal = at["adam"][large] - at["sgd"][large]
    denominator = gain_unequal if abs(gain_unequal) > 1e-9 else 1e-9
    interior = []
    for hps, vals, _ in pools.values():
        best = max(range(len(vals)), key=lambda i: vals[i])
        interior.append(0.1 <= hps[best]["lr_position"] <= 0.9)
    metrics = {
        "gain_ratio_equal_budget_over_unequal_budget": gain_equal / denominator,
        "gain_unequal_budget": gain_unequal,
        "gain_equal_budget": gain_equal,
        "ranking_flips": float((gain_equal > 0) != (gain_unequal > 0)),
        "test_acc_base_small_budget": at["sgd"][small],
        "test_acc_base_large_budget": at["sgd"][large],
        "test_acc_new_small_budget": at["adam"][small],
        "test_acc_new_large_budget": at["adam"][large],
        "best_lr_interior": sum(interior) / len(interior),
    }
    return {"metrics": metrics, "curves": curves}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
