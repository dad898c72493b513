"""The training loop: reaches accuracy fast, flags divergence, is deterministic."""

from __future__ import annotations

import math

import pytest
import torch

from kb.lab.data import digits, teacher_student
from kb.lab.models import MLP
from kb.lab.train import (
    SignSGD,
    TrainResult,
    evaluate,
    mse_loss,
    steps_to_target,
    train,
)


@pytest.fixture(scope="module")
def digits_data():  # type: ignore[no-untyped-def]
    return digits(seed=0)


def test_mlp_learns_digits_quickly(digits_data) -> None:  # type: ignore[no-untyped-def]
    model = MLP(64, 128, 1, 10, seed=0)
    result = train(model, digits_data, steps=300, lr=1e-3, optimizer="adam", batch_size=128)
    assert not result.diverged and result.n_steps == 300
    assert result.final_test_acc >= 0.9
    assert result.final_train_acc >= result.final_test_acc - 0.05
    assert len(result.steps) == 20 and result.steps[-1] == 300
    assert result.train_loss[-1] < result.train_loss[0]
    loss, acc = evaluate(model, digits_data.x_test, digits_data.y_test)
    assert acc == pytest.approx(result.final_test_acc) and loss == pytest.approx(
        result.final_test_loss
    )


@pytest.mark.parametrize("optimizer", ["sgd", "sign", "adamw"])
def test_other_optimizers_learn(digits_data, optimizer: str) -> None:  # type: ignore[no-untyped-def]
    lr = {"sgd": 0.1, "sign": 1e-3, "adamw": 1e-3}[optimizer]
    result = train(
        MLP(64, 64, 1, 10),
        digits_data,
        epochs=4,
        lr=lr,
        optimizer=optimizer,
        momentum=0.9,
        batch_size=64,
    )
    assert result.final_test_acc >= 0.85
    assert result.n_steps == 4 * math.ceil(digits_data.n_train / 64)


def test_divergence_is_flagged_not_raised(digits_data) -> None:  # type: ignore[no-untyped-def]
    result = train(
        MLP(64, 64, 2, 10),
        digits_data,
        steps=500,
        lr=1e4,
        optimizer="sgd",
        loss="mse",
        batch_size=None,
        eval_every=5,
    )
    assert result.diverged
    assert result.n_steps < 500  # stopped early
    assert not math.isfinite(result.train_loss[-1]) and math.isnan(result.final_test_acc)


def test_full_batch_gd_is_deterministic() -> None:
    data = teacher_student(n=200, d_in=5, width=16, seed=0, n_test=50)

    def run() -> TrainResult:
        return train(
            MLP(5, 32, 1, 1, seed=1),
            data,
            steps=50,
            lr=0.05,
            loss="mse",
            batch_size=None,
            eval_every=10,
        )

    a, b = run(), run()
    assert a.train_loss == b.train_loss and a.test_loss == b.test_loss
    assert a.test_loss[-1] < a.test_loss[0]
    assert all(math.isnan(v) for v in a.test_acc)  # regression: no accuracy


def test_minibatch_order_depends_only_on_seed(digits_data) -> None:  # type: ignore[no-untyped-def]
    def run(seed: int) -> list[float]:
        return train(
            MLP(64, 32, 1, 10, seed=0), digits_data, steps=30, lr=0.1, seed=seed, batch_size=32
        ).train_loss

    assert run(0) == run(0) and run(0) != run(1)


def test_callback_can_stop_and_schedule_is_applied(digits_data) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []

    def callback(step: int, model: torch.nn.Module) -> bool:
        seen.append(step)
        return step >= 20

    result = train(
        MLP(64, 32, 1, 10), digits_data, steps=100, lr=0.1, eval_every=10, callback=callback
    )
    assert seen == [10, 20] and result.n_steps == 20
    frozen = MLP(64, 32, 1, 10, seed=3)
    before = [p.clone() for p in frozen.parameters()]
    train(frozen, digits_data, steps=5, lr=0.1, lr_schedule=lambda step: 0.0)
    assert all(torch.equal(a, b) for a, b in zip(before, frozen.parameters(), strict=True))


def test_steps_to_target() -> None:
    curve = [(10, 0.5), (20, 0.8), (30, 0.95)]
    assert steps_to_target(curve, 0.8) == 20
    assert steps_to_target(curve, 0.99) is None
    assert steps_to_target([(1, 2.0), (2, 0.4)], 0.5, higher_is_better=False) == 2


def test_sign_sgd_moves_every_coordinate_by_lr() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    opt = SignSGD([p], lr=0.1)
    p.grad = torch.tensor([5.0, -0.001, 0.0])
    opt.step()
    assert torch.allclose(p.detach(), torch.tensor([0.9, -1.9, 3.0]))
    q = torch.nn.Parameter(torch.zeros(2))
    signum = SignSGD([q], lr=1.0, momentum=0.5)
    for g in ([1.0, 1.0], [-3.0, -0.5]):  # buffer: g1, then 0.5*g1 + 0.5*g2 = [-1, 0.25]
        q.grad = torch.tensor(g)
        signum.step()
    assert torch.equal(q.detach(), torch.tensor([-1.0 + 1.0, -1.0 - 1.0]))  # -sign each step


def test_mse_loss_convention() -> None:
    out = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    y = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    assert float(mse_loss(out, y)) == pytest.approx(0.5 * (5 + 4) / 2)
    labels = torch.tensor([1, 0])  # one-hot targets
    assert float(mse_loss(out, labels)) == pytest.approx(0.5 * ((1 + 1) + (1 + 0)) / 2)


def test_cnn1d_learns_mnist1d() -> None:
    from kb.lab.data import mnist1d
    from kb.lab.models import CNN1d

    data = mnist1d()  # default 4,000 / 1,000 split (generated once, then cached)
    result = train(CNN1d(seed=0), data, steps=600, lr=1e-2, optimizer="adam", batch_size=100)
    assert result.final_test_acc >= 0.8


def test_ratio_bound_follows_the_algebra_of_censoring() -> None:
    from kb.lab.train import ratio_bound

    assert ratio_bound(None, None) is None
    assert ratio_bound("lower", None) == "lower"
    assert ratio_bound(None, "lower") == "upper"
    assert ratio_bound("lower", "upper") == "lower"
    assert ratio_bound("lower", "lower") is None
