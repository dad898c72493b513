"""Measurements checked against exact answers: dense Hessians, quadratics, analytic kernels."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev

from kb.lab.data import digits
from kb.lab.measure import (
    effective_smoothness,
    full_hessian,
    gradient_correlation,
    gradient_predictiveness,
    gradient_step_probe,
    input_distribution_shift,
    internal_covariate_shift,
    interpolation_losses,
    layer_input_moments,
    lesion_blocks,
    nngp_relu_kernel,
    output_statistics_at_init,
    top_hessian_eigenvalue,
)
from kb.lab.models import MLP, ResNet, Transformer
from kb.lab.rng import seeded
from kb.lab.train import cross_entropy, evaluate, mse_loss, train


def same_state(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    """Identical state dicts."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def reference_hessian(model: nn.Module, loss_fn, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[no-untyped-def]
    """Dense Hessian by torch.func over the flattened parameters (independent of kb.lab)."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss_of(flat: Tensor) -> Tensor:
        parts = [t.view(s) for t, s in zip(flat.split(sizes), shapes, strict=True)]
        return loss_fn(functional_call(model, dict(zip(names, parts, strict=True)), (x,)), y)

    return jacrev(jacrev(loss_of))(flat0)  # reverse-over-reverse (forward AD warns here)


class Quadratic(nn.Module):
    """L(theta) = 0.5 theta^T A theta through a 'model' whose output is theta itself."""

    def __init__(self, theta: Tensor) -> None:
        super().__init__()
        self.theta = nn.Parameter(theta.clone())

    def forward(self, x: Tensor) -> Tensor:
        return self.theta.expand(len(x), -1)


def quadratic_loss(a: Tensor):  # type: ignore[no-untyped-def]
    """Loss function 0.5 theta^T A theta of the Quadratic model's output."""
    return lambda out, y: 0.5 * out[0] @ a @ out[0]


def rotated(eigenvalues: list[float], seed: int = 0) -> Tensor:
    """Symmetric matrix with the given eigenvalues in a random basis (float64)."""
    q, _ = torch.linalg.qr(
        torch.randn(
            len(eigenvalues),
            len(eigenvalues),
            dtype=torch.float64,
            generator=torch.Generator().manual_seed(seed),
        )
    )
    return q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ q.T


# ------------------------------------------------------------------------------ Hessian


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_top_hessian_eigenvalue_matches_dense_eigvalsh(activation: str) -> None:
    g = torch.Generator().manual_seed(0)
    model = MLP(3, 5, 1, 3, activation=activation, sigma_b=0.5, seed=1).double()
    x = torch.randn(20, 3, generator=g, dtype=torch.float64)
    y = torch.randint(3, (20,), generator=g)
    ref = reference_hessian(model, cross_entropy, x, y)
    dense = full_hessian(model, "ce", x, y)
    assert torch.allclose(dense, ref, atol=1e-10)
    expected = float(torch.linalg.eigvalsh(ref).max())
    got = top_hessian_eigenvalue(model, "ce", x, y, iters=2000, tol=1e-10, seed=0)
    assert got == pytest.approx(expected, rel=1e-3)


def test_top_hessian_eigenvalue_when_a_negative_one_dominates() -> None:
    a = rotated([-5.0, 1.0, 2.0])
    model = Quadratic(torch.ones(3, dtype=torch.float64))
    x, y = torch.zeros(1, 1), torch.zeros(1)
    got = top_hessian_eigenvalue(model, quadratic_loss(a), x, y, iters=2000, tol=1e-12)
    assert got == pytest.approx(2.0, rel=1e-6)


def test_sharpness_of_mse_linear_model_is_top_eigenvalue_of_xtx_over_n() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 4, generator=g, dtype=torch.float64)
    y = torch.randn(50, 1, generator=g, dtype=torch.float64)
    model = nn.Linear(4, 1, bias=False).double()
    expected = float(torch.linalg.eigvalsh(x.T @ x / 50).max())
    got = top_hessian_eigenvalue(model, mse_loss, x, y, iters=1000, tol=1e-12)
    assert got == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------- Santurkar et al. probes


def test_gradient_step_probe_on_a_quadratic_is_exact() -> None:
    a = rotated([0.5, 1.0, 3.0], seed=1)
    theta = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    model = Quadratic(theta)
    loss = quadratic_loss(a)
    x, y = torch.zeros(1, 1), torch.zeros(1)
    probe = gradient_step_probe(model, loss, x, y, step_sizes=(0.1, 0.2))
    g = a @ theta
    for eta, lk, ck in zip((0.1, 0.2), probe.losses, probe.grad_changes, strict=True):
        t = theta - eta * g
        assert lk == pytest.approx(float(0.5 * t @ a @ t), rel=1e-9)
        assert ck == pytest.approx(float(eta * (a @ g).norm()), rel=1e-9)  # ||grad change||
    # for a quadratic every step gives ||A g|| / ||g||, between the extreme eigenvalues
    ratio = float((a @ g).norm() / g.norm())
    assert probe.effective_smoothness == pytest.approx(ratio, rel=1e-9)
    assert effective_smoothness(model, loss, x, y, (0.1, 0.2)) == pytest.approx(ratio, rel=1e-9)
    assert gradient_predictiveness(model, loss, x, y, (0.1, 0.2))[1] == pytest.approx(
        probe.grad_changes[1]
    )
    assert probe.loss_range == (min(probe.losses), max(probe.losses))
    assert torch.equal(model.theta.detach(), theta)  # model restored


def test_probe_restores_batchnorm_state() -> None:
    data = digits(seed=0)
    model = MLP(64, 32, 2, 10, norm="batch")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gradient_step_probe(model, "ce", data.x_train[:64], data.y_train[:64])
    internal_covariate_shift(model, "ce", data.x_train[:64], data.y_train[:64], lr=0.1)
    assert same_state(before, model.state_dict())


def test_internal_covariate_shift_definition() -> None:
    g = torch.Generator().manual_seed(0)
    with seeded(0):
        model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Linear(4, 2, bias=False)).double()
    x = torch.randn(16, 3, generator=g, dtype=torch.float64)
    y = torch.randn(16, 2, generator=g, dtype=torch.float64)
    lr = 0.3
    out = internal_covariate_shift(model, mse_loss, x, y, lr=lr)
    assert [m.layer for m in out] == [0, 1]
    assert out[0].l2 == 0.0 and out[0].cosine == pytest.approx(1.0)  # nothing below layer 0
    # layer 1 by hand: G = grad at (W1, W2); G' = grad wrt W2 at (W1 - lr G1, W2)
    w1, w2 = (p.detach().clone().requires_grad_(True) for p in model.parameters())
    g1, g2 = torch.autograd.grad(mse_loss(x @ w1.T @ w2.T, y), [w1, w2])
    (g2_new,) = torch.autograd.grad(mse_loss(x @ (w1 - lr * g1).T @ w2.T, y), [w2])
    assert out[1].l2 == pytest.approx(float((g2 - g2_new).norm()), rel=1e-9)
    cos = float((g2 * g2_new).sum() / (g2.norm() * g2_new.norm()))
    assert out[1].cosine == pytest.approx(cos, rel=1e-9)
    assert out[1].grad_norm == pytest.approx(float(g2.norm()), rel=1e-9)


# ----------------------------------------------------------- interpolation and lesions


def test_interpolation_endpoints_are_the_two_models() -> None:
    data = digits(seed=0)
    a, b = MLP(64, 32, 1, 10, norm="batch", seed=0), MLP(64, 32, 1, 10, norm="batch", seed=1)
    train(a, data, steps=30, lr=0.1)
    train(b, data, steps=30, lr=0.1)
    probe = MLP(64, 32, 1, 10, norm="batch", seed=2)
    probe_state = {k: v.clone() for k, v in probe.state_dict().items()}
    result = interpolation_losses(
        a.state_dict(), b.state_dict(), probe, data.x_test, data.y_test, n_points=5
    )
    assert result.alphas == [0.0, 0.25, 0.5, 0.75, 1.0]
    loss_a, acc_a = evaluate(a, data.x_test, data.y_test)
    loss_b, acc_b = evaluate(b, data.x_test, data.y_test)
    assert result.losses[0] == pytest.approx(loss_a, rel=1e-6)
    assert result.losses[-1] == pytest.approx(loss_b, rel=1e-6)
    assert result.accuracies[0] == acc_a and result.accuracies[-1] == acc_b
    assert result.barrier >= 0.0  # the endpoints themselves give 0
    assert same_state(probe_state, probe.state_dict())


def test_lesion_blocks() -> None:
    x = torch.randn(32, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.randint(10, (32,), generator=torch.Generator().manual_seed(1))
    model = ResNet(widths=(4, 8), blocks_per_stage=2)
    model.deleted_blocks = {3}
    baseline, accs = lesion_blocks(model, x, y)
    assert len(accs) == model.n_blocks and model.deleted_blocks == {3}
    model.deleted_blocks = set()
    assert baseline == evaluate(model, x, y)[1]
    model.deleted_blocks = {1}
    assert accs[1] == evaluate(model, x, y)[1]
    tf = Transformer(vocab_size=5, n_classes=5, d_model=8, n_heads=2, n_layers=3)
    _, tf_accs = lesion_blocks(tf, torch.randint(5, (8, 4)), torch.randint(5, (8,)), blocks=[0, 2])
    assert len(tf_accs) == 2
    with pytest.raises(TypeError):
        lesion_blocks(MLP(3, 4, 1, 2), torch.randn(2, 3), torch.zeros(2, dtype=torch.long))


# ----------------------------------------------------------- outputs at initialisation


def relative_standard_error(excess_kurtosis: Tensor, d_out: int, n_inits: int) -> Tensor:
    """Standard error of an E[f^2] estimate, relative to its value.

    Given the hidden layer, the d_out outputs of one init are i.i.d. N(0, s^2) with a shared
    s^2; with c = Var(s^2)/E[s^2]^2 = excess_kurtosis/3, the mean of f^2 over one init's
    outputs has relative variance 2(1+c)/d_out + c, and n_inits inits average that down.
    """
    c = (excess_kurtosis / 3).clamp_min(0)
    return ((2 * (1 + c) / d_out + c) / n_inits).sqrt()


def test_output_variance_matches_the_nngp_kernel() -> None:
    """For ReLU with zero biases the diagonal of the output covariance equals the NNGP value
    at every width, in expectation (E relu(h)^2 = E h^2 / 2 holds layer by layer), so the only
    error is sampling error: we require agreement within 4 standard errors per input."""
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    d_out, n_inits = 8, 300
    stats = output_statistics_at_init(lambda s: MLP(4, 256, 2, d_out, seed=s), x, n_inits=n_inits)
    k = nngp_relu_kernel(x, depth=2)
    assert torch.allclose(k.diagonal(), 2 * x.double().pow(2).sum(1) / 4)  # sigma_w^2 = 2
    ratio = stats.var.mean(1) / k.diagonal()
    se = relative_standard_error(stats.excess_kurtosis.mean(1), d_out, n_inits)
    assert ((ratio - 1).abs() < 4 * se).all(), (ratio, se)
    assert (stats.mean.abs() < 4 * (stats.var / n_inits).sqrt()).all()


def test_output_covariance_matches_the_arccosine_kernel() -> None:
    """One hidden layer: the first-layer pre-activations are exactly Gaussian for every width,
    so E f(x) f(x') equals the arc-cosine (NNGP) kernel exactly; tolerance 4 standard errors
    on the scale sqrt(K(x,x) K(x',x'))."""
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    d_out, n_inits = 8, 400
    stats = output_statistics_at_init(
        lambda s: MLP(3, 128, 1, d_out, sigma_b=0.3, seed=s), x, n_inits=n_inits
    )
    k = nngp_relu_kernel(x, depth=1, sigma_b=0.3)
    scale = (k.diagonal()[:, None] * k.diagonal()[None, :]).sqrt()
    se = relative_standard_error(stats.excess_kurtosis.mean(), d_out, n_inits)
    assert ((stats.kernel - k).abs() < 4 * se * scale).all()
    assert not torch.allclose(k, torch.diag(k.diagonal()))  # the test does see correlations


def test_finite_width_excess_kurtosis() -> None:
    """One ReLU hidden layer of width n, zero biases: excess kurtosis is exactly 15/n (the
    output is Gaussian given a chi-like s^2 with Var(s^2)/E[s^2]^2 = 5/n). Repeats with other
    seeds spread about +-5% at these sizes; we allow 20%."""
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    narrow = output_statistics_at_init(lambda s: MLP(4, 8, 1, 16, seed=s), x, n_inits=2000)
    assert float(narrow.excess_kurtosis.mean()) == pytest.approx(15 / 8, rel=0.2)
    wide = output_statistics_at_init(lambda s: MLP(4, 512, 1, 16, seed=s), x, n_inits=300)
    assert abs(float(wide.excess_kurtosis.mean())) < 0.3


# ------------------------------------------------------------------ shattered gradients


class Slopes(nn.Module):
    """f(x) = slope[cell(x)] * x: the derivative is an arbitrary sequence over the grid."""

    def __init__(self, slopes: Tensor, grid: Tensor) -> None:
        super().__init__()
        self.slopes, self.edges = slopes, (grid[1:] + grid[:-1]) / 2

    def forward(self, x: Tensor) -> Tensor:
        return self.slopes[torch.bucketize(x[:, 0].detach(), self.edges)].unsqueeze(1) * x


def test_gradient_correlation() -> None:
    grid = torch.linspace(-2, 2, 256)

    class Sine(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return torch.sin(3 * x)

    sine = gradient_correlation(Sine(), grid, max_lag=10)
    assert sine.gradients.shape == (256,) and sine.covariance.shape == (256, 256)
    assert sine.autocorrelation.shape == (11,)
    assert torch.allclose(sine.gradients, 3 * torch.cos(3 * grid).double(), atol=1e-5)
    assert sine.autocorrelation[0] == pytest.approx(1.0) and sine.neighbor_correlation > 0.95
    noise = torch.randn(256, generator=torch.Generator().manual_seed(0))
    white = gradient_correlation(Slopes(noise, grid), grid, max_lag=10)
    assert torch.allclose(white.gradients, noise.double(), atol=1e-6)
    assert abs(white.neighbor_correlation) < 0.2
    several = gradient_correlation([Sine(), Slopes(noise, grid)], grid, max_lag=10)
    expected = (sine.autocorrelation + white.autocorrelation) / 2
    assert torch.allclose(several.autocorrelation, expected)
    assert math.isclose(float(several.covariance.diagonal().mean()), 1.0, rel_tol=1e-6)


def test_measurements_do_not_perturb_a_noisy_batchnorm_run() -> None:
    """With NoisyBatchNorm every pass draws fresh noise; measurements must reuse one draw
    (layer 0 has no layers below it, so its ICS is exactly 0) and leave the stream alone."""
    data = digits(seed=0)
    x, y = data.x_train[:64], data.y_train[:64]
    model = MLP(64, 32, 2, 10, norm="noisy_batch", seed=0)
    twin = MLP(64, 32, 2, 10, norm="noisy_batch", seed=0)
    model(x)
    twin(x)
    ics = internal_covariate_shift(model, "ce", x, y, lr=0.1)
    assert ics[0].l2 == 0.0
    gradient_step_probe(model, "ce", x, y)
    top_hessian_eigenvalue(model, "ce", x, y, iters=3)
    assert same_state(model.state_dict(), twin.state_dict())
    assert torch.equal(model(x), twin(x))  # the next noise draw is the one it would have been


def test_layer_input_moments_see_the_noise_and_leave_the_run_alone() -> None:
    """Noisy BN's layer inputs move between two steps' noise draws at the same weights;
    plain BN's do not; the measurement leaves parameters, statistics and the noise stream
    untouched (so a measured run stays identical to an unmeasured one)."""
    data = digits(seed=0)
    x = data.x_train[:128]
    for norm, moves in (("batch", False), ("noisy_batch", True)):
        model = MLP(64, 32, 3, 10, norm=norm, seed=0)
        twin = MLP(64, 32, 3, 10, norm=norm, seed=0)
        model.eval()
        first = layer_input_moments(model, x)
        assert input_distribution_shift(first, layer_input_moments(model, x)) == 0.0
        for net in (model, twin):  # one training-mode pass: the next step's noise
            net.train()
            net(x)
        model.eval()
        second = layer_input_moments(model, x)
        assert len(first) == 4 and first[1][0].shape == (32,)
        shift = input_distribution_shift(first, second)
        assert (shift > 0.05) if moves else (shift < 1e-6)
        assert not model.training
        assert same_state(model.state_dict(), twin.state_dict())
        twin.eval()
        assert torch.equal(model(x), twin(x))


def test_scaled_hessian_eigenvalue_matches_dense_and_ignores_relu_rescaling() -> None:
    """With scale = |w| the top eigenvalue of D H D matches the dense computation and does
    not move under Dinh et al.'s (alpha W1, W2 / alpha), while plain lambda_max does."""
    data = digits(seed=0)
    x, y = data.x_train[:64].double(), data.y_train[:64]
    model = MLP(64, 6, 2, 10, seed=0).double()
    scale = [p.detach().abs() for p in model.parameters()]
    d = torch.cat([s.reshape(-1) for s in scale])
    dense = d[:, None] * full_hessian(model, "ce", x, y) * d[None, :]
    got = top_hessian_eigenvalue(model, "ce", x, y, iters=3000, tol=1e-12, scale=scale)
    assert math.isclose(got, float(torch.linalg.eigvalsh(dense)[-1]), rel_tol=1e-6)
    twin = MLP(64, 6, 2, 10, seed=0).double()
    with torch.no_grad():
        twin.hidden[0].weight.mul_(5.0)
        twin.hidden[0].bias.mul_(5.0)
        twin.hidden[1].weight.div_(5.0)
    twin_scale = [p.detach().abs() for p in twin.parameters()]
    rescaled = top_hessian_eigenvalue(twin, "ce", x, y, iters=3000, tol=1e-12, scale=twin_scale)
    assert math.isclose(rescaled, got, rel_tol=1e-5)
    plain = top_hessian_eigenvalue(model, "ce", x, y, iters=3000, tol=1e-12)
    plain_twin = top_hessian_eigenvalue(twin, "ce", x, y, iters=3000, tol=1e-12)
    assert not math.isclose(plain, plain_twin, rel_tol=0.1)
