"""Noisy BatchNorm: does BatchNorm's speed-up survive unstable layer inputs?

Reproduces: Santurkar, Tsipras, Ilyas & Madry 2018, "How Does Batch Normalization Help
Optimization?", Sec. 2.1 (noisy BatchNorm). If BatchNorm helped by keeping each layer's
input distribution stable (reducing internal covariate shift), then adding random noise
with a non-zero mean and non-unit variance, redrawn at every step, after each BN layer
should take most of the speed-up away. If it helps by smoothing the landscape, the
speed-up should survive.

Tests:  bn-reduces-ics / noisy-bn-loses-speedup        (steps_ratio_noisy_vs_bn > 1.5)
        bn-smooths-landscape / noisy-bn-keeps-speedup  (steps_ratio_noisy_vs_bn < 1.25)
        bn-speeds-training / bn-fewer-steps            (steps_ratio_plain_vs_bn > 1.2)

Three arms share the initial weights' seed and batch order: no normalization, BatchNorm,
and BatchNorm followed by noise (kb.lab.norms.NoisyBatchNorm: per channel and per step,
y = BN(x)(1 + s) + m with s and m Gaussian whose means and spreads are redrawn each step).
Each arm trains with plain SGD at the same learning rate; the metric is the number of steps
until training-set accuracy first reaches TARGET, checked every EVAL_EVERY steps. An arm
that never reaches it is counted at the step budget (so its ratio is a lower bound).

Smoke: MNIST-1D (4,000 examples, generated offline), a 8x128 ReLU MLP; ~30 s per seed on
2 CPU cores. Full: CIFAR-10 from a local copy (`cifar_root`, the python-pickle batches)
and a VGG-style network as in the paper's setting; ~1 h per seed on one GPU.
"""


from kb.lab.norms import NoisyBatchNorm
from kb.lab.setups import load_data, norm_network
from kb.lab.train import evaluate, steps_to_target, train

SCALES = {
    "smoke": {
        "data": "mnist1d",
        "n_train": 4000,  # examples
        "model": "mlp",
        "width": 128,  # units per hidden layer
        "depth": 8,  # hidden layers
        "lr": 0.05,  # SGD, no momentum: the comparison is about the plain gradient step
        "batch_size": 128,
        "max_steps": 4000,  # step budget per arm
        "eval_every": 50,  # steps between training-accuracy checks
        "target_train_acc": 0.85,
        "noise_mean_scale": 0.5,  # per-step noise means ~ U(-0.5, 0.5)
        "noise_std_scale": 0.5,  # per-step noise spreads ~ U(0, 0.5)
    },
    "full": {
        "data": "cifar10",
        "cifar_root": "data/cifar-10-batches-py",
        "n_train": 50000,
        "model": "vgg",
        "widths": [64, 128, 256, 512],
        "convs_per_stage": 2,
        "lr": 0.1,
        "batch_size": 128,
        "max_steps": 40000,
        "eval_every": 500,
        "target_train_acc": 0.9,
        "noise_mean_scale": 0.5,
        "noise_std_scale": 0.5,
    },
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["mlp"]},
    "full": {"data_scale": "small", "architectures": ["vgg", "cnn"]},
}
METRICS = {
    "steps_ratio_noisy_vs_bn": "steps to target train accuracy, noisy BN over BN (1 = noise costs nothing)",
    "steps_ratio_plain_vs_bn": "steps to target train accuracy, no normalization over BN (>1 = BN is faster)",
    "steps_bn": "steps to target train accuracy with BatchNorm",
    "steps_noisy_bn": "steps to target train accuracy with noisy BatchNorm",
    "steps_plain": "steps to target train accuracy without normalization",
    "final_train_acc_noisy_bn": "training accuracy of the noisy-BN arm at the end of its run",
}
ARMS = ("plain", "bn", "noisy_bn")


def build_model(config, arm, data, seed):
    if arm == "plain":
        norm = None
    elif arm == "bn":
        norm = "batch"
    else:
        scales = {"mean_scale": config["noise_mean_scale"], "std_scale": config["noise_std_scale"]}
        norm = lambda features: NoisyBatchNorm(features, seed=seed, **scales)  # noqa: E731
    return norm_network(config, data, norm, seed)


def run(config, seed, device):
    data = load_data(config, seed, device)
    metrics, curves = {}, {}
    for arm in ARMS:
        model = build_model(config, arm, data, seed).to(device)
        train_acc = []

        def record(step, model, train_acc=train_acc):
            _, acc = evaluate(model, data.x_train, data.y_train)
            train_acc.append((step, acc))
            return acc >= config["target_train_acc"]  # stop once the target is reached

        result = train(model, data, steps=config["max_steps"], lr=config["lr"], optimizer="sgd",
                       batch_size=config["batch_size"], seed=seed, device=device,
                       eval_every=config["eval_every"], callback=record)
        reached = steps_to_target(train_acc, config["target_train_acc"])
        metrics[f"steps_{arm}"] = float(reached if reached is not None else config["max_steps"])
        curves[f"train_acc_{arm}"] = {"x": [s for s, _ in train_acc], "y": [a for _, a in train_acc]}
        if arm == "noisy_bn":
            metrics["final_train_acc_noisy_bn"] = train_acc[-1][1] if train_acc else 0.0
        if result.diverged:
            metrics[f"steps_{arm}"] = float(config["max_steps"])
    metrics["steps_ratio_noisy_vs_bn"] = metrics["steps_noisy_bn"] / metrics["steps_bn"]
    metrics["steps_ratio_plain_vs_bn"] = metrics["steps_plain"] / metrics["steps_bn"]
    return {"metrics": metrics, "curves": curves}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
