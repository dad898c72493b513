"""Grokking: on modular addition, test accuracy jumps long after the training set is fit.

Reproduces: Power, Burda, Edwards, Babuschkin & Misra 2022, "Grokking: Generalization Beyond
Overfitting on Small Algorithmic Datasets", Sec. 3 and Fig. 1 (training accuracy near 100%
orders of magnitude before validation accuracy rises; weight decay speeds it up), with the
weight-decay dependence of Liu, Michaud & Tegmark 2022 ("Omnigrok", grokking time roughly
proportional to 1/weight decay) and the Fourier-sparse embeddings of Nanda et al. 2023
("Progress measures for grokking via mechanistic interpretability", Sec. 4).

Tests:  grokking / delayed-generalization                         (grok_delay_ratio_test_over_train_steps >= 10)
        grokking-weight-norm-lu / delay-inverse-in-weight-decay   (grok_steps_ratio_half_wd_over_wd between 1.4 and 2.8)
        grokking-circuit-formation / fourier-sparse-embeddings    (embedding_energy_fraction_top5_frequencies > 0.5)
Not tested: grokking-circuit-formation / progress-measure-leads (needs the restricted-loss
progress measure of the trained transformer's circuit) and grokking-weight-norm-lu /
large-init-induces-delay (a separate MNIST experiment).

Procedure: all pairs (a, b) with a + b mod p as the label (kb.lab.synthetic.modular_arithmetic),
a random TRAIN_FRACTION of them for training. Two arms with the same initial weights and
split: AdamW at weight decay WD and at WD/2, full batch. Every EVAL_EVERY steps train and
test accuracy are recorded; a run stops once test accuracy reaches 95% (or at the budget,
in which case the step counts are lower bounds). Steps to 99% train and 95% test accuracy
are the first evaluation points at which they are reached. Embedding sparsity (the WD arm, at
its end): the token embedding matrix E (p x d) is Fourier-transformed along the token axis;
frequency k (1..(p-1)/2) carries the energy of both its cosine and sine (DFT bins k and p-k);
the metric is the energy of the five strongest frequencies over the total squared norm of E
(constant component included in the total).

Model: smoke uses an embedding + MLP network (tokens a and b share a d-dimensional embedding,
concatenated, one ReLU hidden layer; the decoder of Liu et al. 2022), because the 1-layer
transformer of the predictions does not grok within 20 s on one CPU thread; p = 41 instead of
113, 60% of pairs instead of 30%, lr 3e-3 instead of 1e-3. So smoke is an indirect test: same
task, optimizer and weight decay, smaller modulus, larger training fraction, different
architecture. How these were chosen (disclosed, since it was not blind): a first design (p = 47,
40% of pairs, width 256, lr 1e-3, 6,000 steps) took 45 s and did not grok within budget; a few
probes of the WD arm and then both arms on seed 0 (p in {31, 41, 47}, fraction 0.4-0.6, lr 3e-3)
were run only to find a setting in which both arms finish within 20 s; the fastest one that
grokked was kept. Seed 0 therefore informed the choice; seed 1 was run after it was fixed. Full: the predictions' setting, p = 113, 30% of pairs, a 1-layer
transformer (kb.lab Transformer, 4 heads, d_model 128, d_ff 512; it has pre-LayerNorm, which
Nanda et al.'s model lacks) on "a b =" sequences, AdamW lr 1e-3, wd 1, up to 40,000 steps per
arm; ~0.2 s per step on one CPU thread (hours per arm), far less on a GPU.

The embedding spectrum is taken when the WD arm stops, i.e. as test accuracy first reaches
95%, before any later "cleanup" phase, so it understates the sparsity of a fully trained model.

Deviations from the paper:
- Power et al. [probable]: p = 97; AdamW lr 1e-3, weight decay 1, beta = (0.9, 0.98); 2 layers,
  width 128, 4 heads; batch min(512, half the training set); 10^5 steps. Liu et al. (Omnigrok)
  [code]: modular addition p = 113, 30% training fraction. Nanda et al.: a handful of key
  frequencies [checked: abstract; how many, not found].
- Ours (smoke): an embedding + MLP network, p = 41, 60% of pairs, lr 3e-3, full batch, AdamW's
  default beta2 (not 0.98), at most 8,000 steps per arm; chosen after probing seed 0 (above).
- The Fourier threshold of the prediction (0.5) is an absolute share; a random embedding
  already puts a large share into its five strongest of 20 frequencies, so the run also
  reports the share at initialization and the ratio end / init (the measure a threshold
  should be set on). Censored step counts are reported as lower bounds.

Smoke: ~14 s CPU per seed on one thread (both arms; seed 0: top-5 energy 0.27 at init, 0.60 at
the end, ratio 2.19). Smoke result (seeds 0, 1): 99% train
accuracy at step 100 in both; 95% test accuracy at steps 1,460 / 1,940 (wd 1) and 2,980 /
3,480 (wd 0.5): delay ratios 14.6 and 19.4 (>= 10, as predicted), half-wd ratios 2.04 and
1.79 (inside 1.4-2.8, grokking time ~ 1/wd as Omnigrok says), top-5 Fourier energy of the
embeddings 0.60 and 0.55 (> 0.5). All three agree with the papers, at toy scale with an MLP.
"""

import math

import torch
from torch import nn

from kb.lab.models import MLP, Transformer
from kb.lab.rng import seeded
from kb.lab.synthetic import modular_arithmetic
from kb.lab.train import evaluate, ratio_bound, steps_to_target, train

SCALES = {
    "smoke": {
        "p": 41,  # modulus (prime)
        "train_fraction": 0.6,  # fraction of the p^2 pairs used for training
        "model": "embed_mlp",
        "d_embed": 64,  # embedding width per token
        "width": 128,  # hidden ReLU units
        "lr": 3e-3,  # AdamW, full batch
        "weight_decay": 1.0,  # the half-wd arm uses weight_decay / 2
        "max_steps": 8000,  # per arm
        "eval_every": 20,  # steps between accuracy checks
    },
    "full": {
        "p": 113,
        "train_fraction": 0.3,
        "model": "transformer",
        "d_model": 128,
        "n_heads": 4,
        "d_ff": 512,
        "lr": 1e-3,
        "weight_decay": 1.0,
        "max_steps": 40000,
        "eval_every": 100,
    },
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["mlp"]},
    "full": {"data_scale": "toy", "architectures": ["transformer"]},
}
METRICS = {
    "grok_delay_ratio_test_over_train_steps": {
        "description": "steps to 95% test accuracy over steps to 99% train accuracy (weight decay WD)",
        "label": "Grokking delay, test ÷ train steps", "unit": "×", "scale": "log"},
    "grok_steps_ratio_half_wd_over_wd": {
        "description": "steps to 95% test accuracy at weight decay WD/2 over at WD",
        "label": "Steps to grok, WD/2 ÷ WD", "unit": "×", "scale": "log"},
    "embedding_energy_fraction_top5_frequencies": {
        "description": "share of the token embeddings' squared norm in the 5 strongest Fourier frequencies "
                       "(WD arm, end of run)", "label": "Top-5 Fourier energy", "unit": ""},
    "embedding_energy_fraction_top5_at_init": {
        "description": "the same share for the embeddings at initialization (what a random embedding gives)",
        "label": "Top-5 Fourier energy at init", "unit": ""},
    "embedding_top5_energy_over_init": {
        "description": "top-5 Fourier energy at the end over its value at initialization (1 = no sparser "
                       "than random)", "label": "Top-5 Fourier energy ÷ init", "unit": "×", "scale": "log"},
    "steps_train99_wd": {"description": "steps to 99% train accuracy at WD",
                         "label": "Steps to 99% train, WD", "unit": "steps", "scale": "log"},
    "steps_test95_wd": {"description": "steps to 95% test accuracy at WD (budget if never)",
                        "label": "Steps to 95% test, WD", "unit": "steps", "scale": "log"},
    "steps_test95_half_wd": {"description": "steps to 95% test accuracy at WD/2 (budget if never)",
                             "label": "Steps to 95% test, WD/2", "unit": "steps", "scale": "log"},
    "train_fit_wd": {"description": "1 if the WD arm reached 99% train accuracy within the budget",
                     "label": "WD arm fit the training set", "unit": ""},
}
VALIDITY = {
    "memorised_first": {
        "metric": "train_fit_wd",
        "expect": ">= 1",
        "why": "the grokking delay is measured from fitting the training set; without it there is no delay",
    },
}
MULTIVERSE = {
    "smoke": {"train_fraction": [0.5, 0.6], "p": [31, 41, 47], "lr": [1e-3, 3e-3]},
}


class EmbedMLP(nn.Module):
    """Shared token embedding for a and b, concatenated, then a one-hidden-layer ReLU MLP."""

    def __init__(self, p, d_embed, width, seed):
        super().__init__()
        with seeded(seed):
            self.embed = nn.Embedding(p, d_embed)
        self.mlp = MLP(2 * d_embed, width, 1, p, seed=seed + 1)

    def forward(self, x):
        return self.mlp(self.embed(x).flatten(1))


class EqualsTransformer(nn.Module):
    """The kb.lab Transformer on the sequence "a b =" ("=" is token p), logits at the last position."""

    def __init__(self, p, config, seed):
        super().__init__()
        self.p = p
        self.net = Transformer(vocab_size=p + 1, n_classes=p, max_len=3, d_model=config["d_model"],
                               n_heads=config["n_heads"], n_layers=1, d_ff=config["d_ff"],
                               causal=True, seed=seed)
        self.embed = self.net.embed

    def forward(self, x):
        eq = torch.full((len(x), 1), self.p, dtype=x.dtype, device=x.device)
        return self.net(torch.cat([x, eq], dim=1))


def build_model(config, seed):
    if config["model"] == "transformer":
        return EqualsTransformer(config["p"], config, seed)
    return EmbedMLP(config["p"], config["d_embed"], config["width"], seed)


def fourier_top5_fraction(embedding, p):
    """Energy of the 5 strongest Fourier frequencies of E[:p] over ||E[:p]||^2 (Parseval)."""
    e = embedding.weight.detach()[:p].double().cpu()
    spectrum = torch.fft.fft(e, dim=0).abs().pow(2).sum(1) / p  # sums to ||E||^2
    per_freq = [float(spectrum[k] + spectrum[p - k]) for k in range(1, (p - 1) // 2 + 1)]
    return sum(sorted(per_freq, reverse=True)[:5]) / float(spectrum.sum())


def run_arm(config, data, weight_decay, seed, device):
    model = build_model(config, seed).to(device)
    train_acc, test_acc = [], []

    def record(step, model):
        train_acc.append((step, evaluate(model, data.x_train, data.y_train)[1]))
        test_acc.append((step, evaluate(model, data.x_test, data.y_test)[1]))
        return test_acc[-1][1] >= 0.95

    train(model, data, steps=config["max_steps"], lr=config["lr"], optimizer="adamw",
          weight_decay=weight_decay, batch_size=None, seed=seed, device=device,
          eval_every=config["eval_every"], callback=record)
    budget = config["max_steps"]
    t99 = steps_to_target(train_acc, 0.99)
    t95 = steps_to_target(test_acc, 0.95)
    censored = {"t99": t99 is None, "t95": t95 is None}
    return (model, float(t99 if t99 is not None else budget), float(t95 if t95 is not None else budget),
            train_acc, test_acc, censored)


def run(config, seed, device):
    data = modular_arithmetic(p=config["p"], op="add", train_fraction=config["train_fraction"],
                              seed=seed, device=device)
    wd = config["weight_decay"]
    init_energy = fourier_top5_fraction(build_model(config, seed).embed, config["p"])
    model, t99, t95, tr, te, cens = run_arm(config, data, wd, seed, device)
    _, _, t95_half, tr_h, te_h, cens_h = run_arm(config, data, wd / 2, seed, device)
    energy = fourier_top5_fraction(model.embed, config["p"])
    metrics = {
        "grok_delay_ratio_test_over_train_steps": t95 / t99,
        "grok_steps_ratio_half_wd_over_wd": t95_half / t95,
        "embedding_energy_fraction_top5_frequencies": energy,
        "embedding_energy_fraction_top5_at_init": init_energy,
        "embedding_top5_energy_over_init": energy / init_energy,
        "steps_train99_wd": t99,
        "steps_test95_wd": t95,
        "steps_test95_half_wd": t95_half,
        "train_fit_wd": 0.0 if cens["t99"] else 1.0,
    }
    bounds = {}
    if cens["t95"]:
        bounds["steps_test95_wd"] = "lower"
    if cens_h["t95"]:
        bounds["steps_test95_half_wd"] = "lower"
    for name, num, den in (("grok_delay_ratio_test_over_train_steps", "steps_test95_wd", None),
                           ("grok_steps_ratio_half_wd_over_wd", "steps_test95_half_wd", "steps_test95_wd")):
        bound = ratio_bound(bounds.get(num), bounds.get(den) if den else None)
        if bound:
            bounds[name] = bound
    assert all(math.isfinite(v) for v in metrics.values())
    curves = {}
    for name, c in (("train_acc_wd", tr), ("test_acc_wd", te), ("train_acc_half_wd", tr_h),
                    ("test_acc_half_wd", te_h)):
        curves[name] = {"x": [s for s, _ in c], "y": [a for _, a in c]}
    return {"metrics": metrics, "bounds": bounds, "curves": curves}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
