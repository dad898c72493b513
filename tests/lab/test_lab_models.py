"""Models: forward/backward shapes, seeding, switches (lesions, BN, skips, heads), muP."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kb.lab.models import (
    MLP,
    VGG,
    CNN1d,
    CNN2d,
    NoisyBatchNorm,
    ResNet,
    Transformer,
)
from kb.lab.train import make_optimizer

G = torch.Generator().manual_seed(0)

CASES: list[tuple[str, Callable[[], nn.Module], Tensor, int]] = [
    ("mlp", lambda: MLP(12, 16, 2, 3), torch.randn(5, 12, generator=G), 3),
    ("mlp-bn", lambda: MLP(12, 16, 2, 3, norm="batch"), torch.randn(5, 12, generator=G), 3),
    (
        "mlp-ln-tanh",
        lambda: MLP(12, 16, 2, 3, norm="layer", activation="tanh"),
        torch.randn(5, 12, generator=G),
        3,
    ),
    (
        "mlp-noisy",
        lambda: MLP(12, 16, 2, 3, norm="noisy_batch"),
        torch.randn(5, 12, generator=G),
        3,
    ),
    (
        "mlp-ntk",
        lambda: MLP(12, 16, 2, 3, parametrization="ntk"),
        torch.randn(5, 12, generator=G),
        3,
    ),
    (
        "mlp-mup",
        lambda: MLP(12, 16, 2, 3, parametrization="mup"),
        torch.randn(5, 12, generator=G),
        3,
    ),
    ("mlp-linear", lambda: MLP(12, 16, 0, 3), torch.randn(5, 12, generator=G), 3),
    ("cnn1d", lambda: CNN1d(), torch.randn(5, 40, generator=G), 10),
    ("cnn1d-bn", lambda: CNN1d(norm="batch"), torch.randn(5, 1, 40, generator=G), 10),
    ("cnn2d", lambda: CNN2d(), torch.randn(5, 1, 8, 8, generator=G), 10),
    ("resnet2d", lambda: ResNet(widths=(4, 8)), torch.randn(5, 3, 16, 16, generator=G), 10),
    (
        "resnet1d-plain",
        lambda: ResNet(dim=1, in_channels=1, widths=(4, 8), skip=False, batchnorm=False),
        torch.randn(5, 40, generator=G),
        10,
    ),
    (
        "vgg-noisy",
        lambda: VGG(widths=(4, 8), norm="noisy_batch"),
        torch.randn(5, 3, 16, 16, generator=G),
        10,
    ),
    (
        "vgg1d",
        lambda: VGG(dim=1, in_channels=1, widths=(4, 8)),
        torch.randn(5, 40, generator=G),
        10,
    ),
    (
        "transformer",
        lambda: Transformer(vocab_size=11, n_classes=11, d_model=16, n_heads=2),
        torch.randint(11, (5, 2), generator=G),
        11,
    ),
    (
        "transformer-postln",
        lambda: Transformer(
            vocab_size=11, n_classes=11, d_model=16, n_heads=2, pre_ln=False, causal=True
        ),
        torch.randint(11, (5, 3), generator=G),
        11,
    ),
    (
        "transformer-vec",
        lambda: Transformer(d_in=1, n_classes=10, d_model=16, n_heads=2, pool="mean"),
        torch.randn(5, 40, generator=G),
        10,
    ),
]


@pytest.mark.parametrize(("name", "make", "x", "d_out"), CASES, ids=[c[0] for c in CASES])
def test_forward_backward(name: str, make: Callable[[], nn.Module], x: Tensor, d_out: int) -> None:
    model, again = make(), make()
    # seeded construction: the same class and seed give the same weights and buffers
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    out = model(x)
    assert out.shape == (len(x), d_out)
    out.pow(2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_language_model_output() -> None:
    lm = Transformer(vocab_size=13, d_model=16, n_heads=2, causal=True)
    x = torch.randint(13, (2, 6), generator=G)
    out = lm(x)
    assert out.shape == (2, 6, 13)
    # causal: changing the last token does not change earlier positions
    x2 = x.clone()
    x2[:, -1] = (x2[:, -1] + 1) % 13
    assert torch.allclose(lm(x2)[:, :-1], out[:, :-1], atol=1e-6)


def test_seed_changes_weights_and_leaves_global_rng() -> None:
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    a, b = MLP(4, 8, 1, 2, seed=0), MLP(4, 8, 1, 2, seed=1)
    assert torch.equal(torch.rand(1), expected)
    assert not torch.equal(a.readout.weight, b.readout.weight)


def test_resnet_lesion_switch_changes_output() -> None:
    model = ResNet(widths=(4, 8), blocks_per_stage=2).eval()
    x = torch.randn(3, 3, 16, 16, generator=G)
    base = model(x)
    assert model.n_blocks == 4
    for i in range(model.n_blocks):
        model.deleted_blocks = {i}
        assert not torch.allclose(model(x), base)
    model.deleted_blocks = set()
    assert torch.equal(model(x), base)


def test_resnet_switches_build_the_right_layers() -> None:
    plain = ResNet(widths=(4,), batchnorm=False, skip=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert not any(b.skip for b in plain.blocks)  # type: ignore[union-attr]
    # with skips, a block whose residual branch outputs zero is the identity (after ReLU)
    res = ResNet(widths=(4,), batchnorm=False, skip=True)
    block = res.blocks[0]
    for p in block.parameters():
        nn.init.zeros_(p)
    h = torch.relu(torch.randn(2, 4, 8, 8, generator=G))
    assert torch.equal(block(h), h)


def test_transformer_drop_top_and_head_mask() -> None:
    model = Transformer(vocab_size=11, n_classes=11, d_model=16, n_heads=4, n_layers=3).eval()
    x = torch.randint(11, (4, 5), generator=G)
    base = model(x)
    model.drop_top(1)
    assert model.deleted_blocks == {2}
    assert not torch.allclose(model(x), base)
    model.drop_top(0)
    assert torch.equal(model(x), base)
    model.head_mask[0, 1] = 0.0
    masked = model(x)
    assert not torch.allclose(masked, base)
    model.head_mask.fill_(1.0)
    assert torch.equal(model(x), base)


def test_noisy_batchnorm() -> None:
    x = torch.randn(16, 6, 5, generator=G)
    noisy, plain = NoisyBatchNorm(6, seed=1), nn.BatchNorm1d(6)
    a, b = noisy(x), noisy(x)
    assert not torch.allclose(a, b)  # fresh noise every training step
    assert not torch.allclose(a, plain(x))
    noisy.eval()
    plain.eval()
    plain.load_state_dict(noisy.state_dict())
    assert torch.allclose(noisy(x), plain(x))  # eval mode: exactly BatchNorm
    # same seed, same noise stream
    n1, n2 = NoisyBatchNorm(6, seed=3), NoisyBatchNorm(6, seed=3)
    assert torch.equal(n1(x), n2(x))
    # shared (per-step) noise: every sample of a channel gets the same affine map s*BN(x) + m
    shared = NoisyBatchNorm(6, per_sample=False, seed=0)
    bn = nn.BatchNorm1d(6)
    y = shared(x)
    ratio = (y - y.mean(dim=(0, 2), keepdim=True)) / (bn(x) - bn(x).mean(dim=(0, 2), keepdim=True))
    assert torch.allclose(ratio, ratio[:1, :, :1].expand_as(ratio), rtol=1e-3, atol=1e-3)


def test_noisy_batchnorm_follows_algorithm_1() -> None:
    """Santurkar et al.'s Alg. 1 with r_mu = r_sigma = 0: per unit y = sigma*BN(x) + mu with
    mu in [-n_mu, n_mu] and sigma in [1, n_sigma]."""
    x = torch.randn(64, 200, generator=G)
    noisy = NoisyBatchNorm(200, n_mu=0.3, n_sigma=2.0, r_mu=0.0, r_sigma=0.0, seed=5)
    with torch.no_grad():
        y, z = noisy(x), nn.BatchNorm1d(200)(x)
    sigma = y.std(dim=0, unbiased=False) / z.std(dim=0, unbiased=False)
    mu = y.mean(dim=0)
    assert float(sigma.min()) >= 1 - 1e-4 and float(sigma.max()) <= 2.0 + 1e-4
    assert float(mu.abs().max()) <= 0.3 + 1e-5
    assert float(sigma.std()) > 0.1 and float(mu.std()) > 0.05  # drawn per unit
    with pytest.raises(ValueError):
        NoisyBatchNorm(4, n_sigma=0.5)


def test_callable_norm_gets_a_seed_per_layer() -> None:
    """A norm callable that takes ``seed`` gets a different one per layer, so each noisy
    layer draws its own noise (a shared seed made every layer's noise identical)."""
    model = MLP(8, 16, 3, 2, norm=lambda n, seed: NoisyBatchNorm(n, seed=seed), seed=4)
    assert [m.seed for m in model.norms] == [4, 5, 6]
    x = torch.randn(32, 16, generator=G)
    outs = [norm(x) - nn.functional.batch_norm(x, None, None, training=True) for norm in model.norms]
    assert not torch.allclose(outs[0], outs[1])
    plain = MLP(8, 16, 2, 2, norm=lambda n: nn.BatchNorm1d(n), seed=4)  # no seed argument: fine
    assert isinstance(plain.norms[0], nn.BatchNorm1d)


# -------------------------------------------------------------------------- muP / NTK


def test_mup_lr_multipliers_scale_with_width() -> None:
    base = 32
    for width in (32, 64, 256):
        m = width / base
        model = MLP(10, width, 3, 5, parametrization="mup", base_width=base)
        sgd = model.lr_multipliers("sgd")
        adam = model.lr_multipliers("adam")
        assert sgd["hidden.0.weight"] == pytest.approx(m)  # input weights: fan_out
        assert sgd["hidden.0.bias"] == pytest.approx(m)  # biases: fan_out
        assert sgd["hidden.1.weight"] == pytest.approx(1.0)  # hidden weights: 1
        assert sgd["readout.weight"] == pytest.approx(1 / m)  # output weights: 1/fan_in
        assert adam["hidden.0.weight"] == pytest.approx(1.0)
        assert adam["hidden.0.bias"] == pytest.approx(1.0)
        assert adam["hidden.2.weight"] == pytest.approx(1 / m)  # hidden weights: 1/fan_in
        assert adam["readout.weight"] == pytest.approx(1 / m)
        assert sgd["readout.bias"] == adam["readout.bias"] == 1.0
        groups = {g["name"]: g["lr"] for g in model.param_groups(0.1, "adam")}
        assert groups["hidden.1.weight"] == pytest.approx(0.1 / m)
        opt = make_optimizer(model, "adam", 0.1)
        assert sorted(g["lr"] for g in opt.param_groups) == sorted(groups.values())
    standard = MLP(10, 256, 3, 5)
    assert set(standard.lr_multipliers("adam").values()) == {1.0}


def test_mup_init_variances() -> None:
    wide = MLP(100, 1024, 2, 512, parametrization="mup", base_width=64, seed=0)
    sp = MLP(100, 1024, 2, 512, seed=0)
    m = 1024 / 64
    # readout variance sigma_w^2 / (fan_in * m): std smaller than SP's by sqrt(m) = 4
    ratio = float(sp.readout.weight.detach().std() / wide.readout.weight.detach().std())
    assert ratio == pytest.approx(math.sqrt(m), rel=0.02)
    assert float(wide.hidden[1].weight.detach().std()) == pytest.approx(
        math.sqrt(2 / 1024), rel=0.02
    )
    # at the base width muP is exactly the standard parametrisation
    at_base = MLP(10, 64, 2, 3, parametrization="mup", base_width=64, seed=4)
    for a, b in zip(at_base.parameters(), MLP(10, 64, 2, 3, seed=4).parameters(), strict=True):
        assert torch.equal(a, b)
    assert set(at_base.lr_multipliers("sgd").values()) == {1.0}


def test_mup_feature_updates_are_width_stable_under_adam() -> None:
    """Coordinate check (Yang et al. 2022, §5): after one Adam step the change in the last
    hidden features stays O(1) across widths in muP but grows with width in SP."""
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    y = torch.randint(10, (64,), generator=torch.Generator().manual_seed(1))

    def feature_change(parametrization: str, width: int) -> float:
        model = MLP(16, width, 2, 10, parametrization=parametrization, base_width=64)  # type: ignore[arg-type]
        opt = make_optimizer(model, "adam", 1e-2)
        h0 = model.features(x).detach()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        return float((model.features(x).detach() - h0).std())

    mup = feature_change("mup", 1024) / feature_change("mup", 128)
    sp = feature_change("standard", 1024) / feature_change("standard", 128)
    assert 0.7 < mup < 1.3
    assert sp > 2.0


def test_ntk_parametrisation_same_function_smaller_weight_gradients() -> None:
    x = torch.randn(64, 20, generator=G)
    ntk, sp = MLP(20, 512, 2, 3, parametrization="ntk"), MLP(20, 512, 2, 3)
    assert float(ntk.hidden[1].weight.detach().std()) == pytest.approx(1.0, rel=0.02)
    assert ntk.readout.multiplier == pytest.approx(math.sqrt(2 / 512))  # sigma_w / sqrt(fan_in)
    # same seed, same standard-normal draws: the very same function at init
    assert torch.allclose(ntk(x), sp(x), rtol=1e-4, atol=1e-5)
    # but the gradient on a stored weight carries the multiplier: dL/dW_ntk = m * dL/dW_sp with
    # m = sigma_w / sqrt(fan_in), so an SGD step moves the function m^2 = 2/fan_in times less
    ntk(x).sum().backward()
    sp(x).sum().backward()
    g_ntk, g_sp = ntk.hidden[1].weight.grad, sp.hidden[1].weight.grad
    assert g_ntk is not None and g_sp is not None
    assert torch.allclose(g_ntk, g_sp * math.sqrt(2 / 512), rtol=1e-3, atol=1e-7)
