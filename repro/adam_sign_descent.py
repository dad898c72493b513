"""Adam vs SGD vs sign descent on a tiny character-level transformer LM, full batch and small batch.

Reproduces: Kunstner, Chen, Lavington & Schmidt 2023, "Noise Is Not the Main Factor Behind
the Gap Between SGD and Adam on Transformers, but Sign Descent Might Be", Sec. 3 (Fig. 1-3:
the gap persists, or grows, as the batch grows to the full data set) and Sec. 4 (Fig. 5-6:
sign descent with momentum recovers much of Adam's advantage at full batch). The opposing
noise view is Zhang et al. 2020, "Why are Adaptive Methods Good for Attention Models?".

Tests:  adam-as-sign-descent / gap-persists-without-noise   (adam_sgd_gap_ratio_full_vs_small_batch >= 1)
        adam-as-sign-descent / sign-descent-closes-gap       (sign_descent_fraction_of_gap_closed_full_batch > 0.5)
        adam-heavy-tailed-noise / gap-shrinks-without-noise  (adam_sgd_gap_ratio_full_vs_small_batch < 0.5)
        adam-beats-sgd-on-transformers / adam-gap-on-transformer
                                                   (train_loss_gap_sgd_minus_adam_transformer >= 0.1)

Design. A decoder-only pre-LN kb.lab Transformer is trained as a
next-character model on a fixed text, cut into overlapping windows. Three optimizers, all
with momentum 0.9: SGD (heavy ball), Adam (beta1 0.9, beta2 0.999) and sign descent with
momentum (kb.lab.train.SignSGD, Signum). Two batch regimes: full batch (no gradient
noise, FULL_BATCH_STEPS steps) and a small batch (EPOCHS passes). Each (optimizer, regime) pair is tuned on its own over a fixed learning-rate grid
(a factor ~3 apart); the score is the final training loss (full pass over the training
set, nats per character), a diverged run scores +inf. The gap is SGD's best loss minus
Adam's best loss in each regime; the ratio is gap(full) / gap(small), with the small-batch
gap floored at 1e-3 nats so the ratio stays finite. The sign-descent fraction is
(SGD - sign) / (SGD - Adam) at full batch (the denominator likewise floored at 1e-3).
The transformer-gap metric is the small-batch gap (the usual minibatch setting).

Deviations from the paper:
- Paper [code]: "full batch" is gradient accumulation over the whole training set, 800 steps
  for MNIST and CIFAR-10 (320 for WikiText-2 and 3,200 for PTB per the protocol notes); the
  epoch budget grows with batch size (neither equal epochs nor equal steps); sign descent
  with heavy-ball momentum 0.9 on sign(g); LR grid-searched, 3 seeds.
- Ours: a tiny character-level transformer on the Zen of Python instead of transformers on
  WikiText-2/PTB (CPU budget). Full batch gets its own step budget, 200 steps (earlier
  versions used equal epochs, which left it 40 steps, far from training, issue 14); 320 steps
  did not fit ~60 s per seed. The small-batch regime keeps 40 epochs (280 steps at batch 8).
  Windows at stride 16 (each character in 2 windows) and small batches of 8: the first v2
  runs used stride 8 (103 windows, every character in 4) and batches of 16, the same 15% of
  the windows per small step, at twice the full-batch cost; halving it helps bring the
  whole smoke suite within 15 minutes on 2 cores (issue 14). The full-batch gradient is the same
  text's either way.
  LR grids a factor ~3 apart (4 points) rather than the paper's wider search. The 3-point
  SGD and sign grids of the first v2 runs left SGD's best LR on the top edge (0.3) in 2 of 5
  seeds and sign descent's on the bottom edge in 1, so the grid-brackets-optima check failed
  and the verdicts were invalid; each grid gained one point at the edge that was hit.

Smoke: the Zen of Python (Python's `this` module, 856 characters, 45 symbols) in 52
windows of 32 characters at stride 16; 2 layers, width 32, 2 heads; 200 full-batch steps vs
280 steps at batch 8; 24 runs; ~25 s CPU per seed on one thread, ~30 s with another seed on
the other core (measured, seed 0: gap ratio 1.18, sign descent closes 0.98 of the full-batch
gap, Adam full-batch loss 0.04 nats). The text is tiny and real, so the model can memorise it. Full: the first 200k characters of a
local plain-text corpus (`text_path`, e.g. WikiText-2's train split), context 128, 4 layers
of width 256, 5-point grids, 800 full-batch steps vs batch 64 for 100 epochs; about a GPU
hour per seed.

Notes (smoke, seeds 0 and 1, the earlier equal-epoch design): the full-batch runs barely left
the initial loss (best 2.1-2.7 nats vs ln 45 = 3.8) while the small-batch runs reached
0.14-0.9; gap ratio 0.72 and 0.71; sign descent closed 0.57 and 0.30 of the full-batch gap.
"""

import codecs
import contextlib
import io
import math

import torch

from kb.lab.dataset import Dataset
from kb.lab.models import Transformer
from kb.lab.train import train

SCALES = {
    "smoke": {
        "text": "zen",  # Python's `import this` text
        "context": 32,  # characters per training window
        "stride": 16,  # characters between window starts (each character in 2 windows)
        "d_model": 32,
        "n_layers": 2,
        "n_heads": 2,
        "epochs": 40,  # passes over the windows in the small-batch regime
        "full_batch_steps": 200,  # full-batch steps (was 40 = equal epochs; the paper gives 320-3,200)
        "small_batch": 8,  # windows per step in the small-batch regime (15% of the windows)
        "momentum": 0.9,  # SGD heavy ball, Adam beta1, Signum beta
        "lr_grid": {  # learning rates tried per optimizer (each regime tuned separately)
            "sgd": [0.03, 0.1, 0.3, 1.0],
            "adam": [0.001, 0.003, 0.01, 0.03],
            "sign": [0.0003, 0.001, 0.003, 0.01],
        },
    },
    "full": {
        "text": "file",
        "text_path": "data/wikitext-2/wiki.train.raw",
        "max_chars": 200000,  # first characters used, so a full-batch step fits in GPU memory
        "context": 128,
        "stride": 128,
        "d_model": 256,
        "n_layers": 4,
        "n_heads": 4,
        "epochs": 100,
        "full_batch_steps": 800,
        "small_batch": 64,
        "momentum": 0.9,
        "lr_grid": {
            "sgd": [0.03, 0.1, 0.3, 1.0, 3.0],
            "adam": [0.0001, 0.0003, 0.001, 0.003, 0.01],
            "sign": [0.00003, 0.0001, 0.0003, 0.001, 0.003],
        },
    },
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["transformer"]},
    "full": {"data_scale": "small", "architectures": ["transformer"]},
}
METRICS = {
    "adam_sgd_gap_ratio_full_vs_small_batch": {
        "description": "(SGD - Adam best final train loss) at full batch over the same gap at small batch",
        "label": "SGD-Adam gap, full ÷ small batch", "unit": "×"},
    "sign_descent_fraction_of_gap_closed_full_batch": {
        "description": "(SGD - sign descent) / (SGD - Adam) best final train loss, full batch",
        "label": "Gap closed by sign descent, full batch", "unit": ""},
    "train_loss_gap_sgd_minus_adam_transformer": {
        "description": "SGD minus Adam best final train loss at small batch (nats per character)",
        "label": "SGD - Adam train loss, small batch", "unit": "nats"},
    "gap_sgd_minus_adam_full_batch": {"description": "SGD minus Adam best final train loss at full batch (nats)",
                                      "label": "SGD - Adam train loss, full batch", "unit": "nats"},
    "loss_sgd_full": {"description": "best final train loss of SGD at full batch (nats)",
                      "label": "SGD loss, full batch", "unit": "nats"},
    "loss_adam_full": {"description": "best final train loss of Adam at full batch (nats)",
                       "label": "Adam loss, full batch", "unit": "nats"},
    "loss_sign_full": {"description": "best final train loss of sign descent at full batch (nats)",
                       "label": "Sign descent loss, full batch", "unit": "nats"},
    "loss_sgd_small": {"description": "best final train loss of SGD at small batch (nats)",
                       "label": "SGD loss, small batch", "unit": "nats"},
    "loss_adam_small": {"description": "best final train loss of Adam at small batch (nats)",
                        "label": "Adam loss, small batch", "unit": "nats"},
    "loss_sign_small": {"description": "best final train loss of sign descent at small batch (nats)",
                        "label": "Sign descent loss, small batch", "unit": "nats"},
    "optima_inside_grid": {
        "description": "1 if every (optimizer, regime) has its best LR strictly inside its grid",
        "label": "Optima inside the LR grids", "unit": ""},
    "adam_full_loss_over_uniform": {
        "description": "Adam's best full-batch loss over the loss of a uniform guess, ln(vocabulary)",
        "label": "Adam full-batch loss ÷ ln(vocab)", "unit": "×"},
}
VALIDITY = {
    "full_batch_trained": {
        "metric": "adam_full_loss_over_uniform",
        "expect": "< 0.5",
        "why": "a full-batch gap measured before the model leaves the unigram plateau is about early "
               "training speed, not about the full-batch claims",
    },
    "grid_brackets_optima": {
        "metric": "optima_inside_grid",
        "expect": ">= 1",
        "why": "each optimizer is compared at its tuned LR; a best LR on a grid edge is not tuned",
    },
}
MULTIVERSE = {
    "smoke": {"full_batch_steps": [100, 200, 400], "small_batch": [8, 16]},
}
OPTIMIZERS = ("sgd", "adam", "sign")
GAP_FLOOR = 1e-3  # nats: smallest denominator for the two ratios


def load_text(config):
    if config["text"] == "zen":
        with contextlib.redirect_stdout(io.StringIO()):
            import this  # prints the Zen on first import
        return codecs.decode(this.s, "rot13")
    with open(config["text_path"], encoding="utf-8") as f:
        return f.read(config["max_chars"])


def char_windows(config, device):
    """Overlapping windows of the text as (input, next-character target) token pairs."""
    text = load_text(config)
    vocab = {c: i for i, c in enumerate(sorted(set(text)))}
    ids = torch.tensor([vocab[c] for c in text])
    t, s = config["context"], config["stride"]
    starts = torch.arange(0, len(ids) - t, s)
    windows = torch.stack([ids[i : i + t + 1] for i in starts.tolist()])
    x, y = windows[:, :-1].to(device), windows[:, 1:].to(device)
    return Dataset(x_train=x, y_train=y, x_test=x[:1], y_test=y[:1], n_classes=len(vocab),
                   name="chars", meta={"vocab_size": len(vocab)})


def run(config, seed, device):
    data = char_windows(config, device)
    metrics, curves = {}, {}
    regimes = {"full": None, "small": config["small_batch"]}
    inside = True
    for regime, batch_size in regimes.items():
        for opt in OPTIMIZERS:
            best, best_curve, losses = math.inf, None, []
            for lr in config["lr_grid"][opt]:
                model = Transformer(vocab_size=data.meta["vocab_size"], max_len=config["context"],
                                    d_model=config["d_model"], n_heads=config["n_heads"],
                                    n_layers=config["n_layers"], causal=True, seed=seed)
                length = ({"steps": config["full_batch_steps"]} if batch_size is None
                          else {"epochs": config["epochs"]})
                result = train(model, data, **length, lr=lr, optimizer=opt,
                               momentum=config["momentum"], batch_size=batch_size, seed=seed,
                               device=device, eval_every=10**9)
                loss = result.final_train_loss
                if result.diverged or not math.isfinite(loss):
                    loss = math.inf
                losses.append(loss)
                if loss < best:
                    best, best_curve = loss, result
                curve = curves.setdefault(f"final_loss_vs_lr_{opt}_{regime}", {"x": [], "y": []})
                curve["x"].append(lr)
                curve["y"].append(loss if math.isfinite(loss) else 1e9)  # 1e9 marks divergence
            if best_curve is None:  # every learning rate diverged: score the loss at init
                best = math.log(data.n_classes)
            i = losses.index(min(losses))
            inside = inside and 0 < i < len(losses) - 1
            metrics[f"loss_{opt}_{regime}"] = best
    gap_full = metrics["loss_sgd_full"] - metrics["loss_adam_full"]
    gap_small = metrics["loss_sgd_small"] - metrics["loss_adam_small"]
    metrics["gap_sgd_minus_adam_full_batch"] = gap_full
    metrics["train_loss_gap_sgd_minus_adam_transformer"] = gap_small
    metrics["adam_sgd_gap_ratio_full_vs_small_batch"] = gap_full / max(gap_small, GAP_FLOOR)
    metrics["sign_descent_fraction_of_gap_closed_full_batch"] = (
        (metrics["loss_sgd_full"] - metrics["loss_sign_full"]) / max(gap_full, GAP_FLOOR))
    metrics["optima_inside_grid"] = float(inside)
    metrics["adam_full_loss_over_uniform"] = metrics["loss_adam_full"] / math.log(data.n_classes)
    return {"metrics": metrics, "curves": curves}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
