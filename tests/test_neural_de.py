"neural_de: adjoint vs backprop gradients, the fused MLP kernel (== the generic stepper), per-sample grids, constant adjoint memory, SDE steppers, CNF traces, signatures (Chen's identity, hypothesis), latent ODE, neural CDE, signature regression, hybrid fields, NeuralSystem tangents, the neural_ode forecaster and its checkpoints, bad input, torchdiffeq agreement."
import math

import pytest
from dynbook.core import CHECKPOINT_VERSION
import torch
from hypothesis import given, settings, strategies as st

from dynbook.core import BadInputError
from dynbook.forecast import make, available, registry_entry
from dynbook.simulate import sdeint, reversible_heun_step
from dynbook.neural_de import (odeint, MLPField, saved_bytes, reversible_heun_reverse,
                               cnf, signature, signature_features, chen_product, NeuralODEForecaster,
                               LatentODE, ControlPath, cdeint, NeuralCDE, SignatureRegression, HybridField, NeuralSystem)
from dynbook.core import TrainLog
from dynbook.invariants import lyapunov_spectrum

D = torch.float64


def _field(d=3, seed=0, hidden=16):
    torch.manual_seed(seed)
    return MLPField(d, hidden=hidden)


def _param_grad(f, y0, t, substeps, adjoint):
    f.zero_grad()
    y0 = y0.clone().requires_grad_(True)
    ys = odeint(f, y0, t, substeps=substeps, adjoint=adjoint)
    (ys.sin() ** 2).sum().backward()
    return torch.cat([p.grad.flatten() for p in f.parameters()] + [y0.grad.flatten()])


@pytest.mark.parametrize("per_sample", [False, True])
def test_adjoint_matches_backprop(per_sample):
    f = _field()
    y0 = 2 * torch.randn(6, 3, dtype=D)
    t = torch.linspace(0, 1.5, 4, dtype=D)
    if per_sample: t = t + torch.rand(6, 4, dtype=D).cumsum(1) * 0.3
    gb, ga = _param_grad(f, y0, t, 40, False), _param_grad(f, y0, t, 40, True)
    assert float((ga - gb).norm() / gb.norm()) < 1e-6


def test_per_sample_grid_equals_individual_solves():
    f = _field(seed=1)
    y0 = torch.randn(5, 3, dtype=D)
    t = torch.rand(5, 6, dtype=D).cumsum(1)
    ys = odeint(f, y0, t, substeps=7)
    for i in range(5): torch.testing.assert_close(ys[i], odeint(f, y0[i], t[i], substeps=7), rtol=0, atol=1e-12)


def test_time_dependent_field_sees_stage_times():
    # y' = cos(t) from y(0) = 0 has y(t) = sin(t); RK4 with 50 steps is accurate to ~1e-9
    t = torch.linspace(0, 3, 4, dtype=D)
    ys = odeint(lambda s, y: torch.ones_like(y) * math.cos(s), torch.zeros(1, 1, dtype=D), t, substeps=50)
    torch.testing.assert_close(ys[0, :, 0], t.sin(), rtol=0, atol=1e-8)
    tb = torch.stack([t, t + 1])
    ys = odeint(lambda s, y: torch.cos(s) * torch.ones_like(y), torch.zeros(2, 1, dtype=D), tb, substeps=50)
    torch.testing.assert_close(ys[1, :, 0], (t + 1).sin() - math.sin(1), rtol=0, atol=1e-8)


def test_memory_of_the_gradient_modes():
    "adjoint: constant in the steps; generic backprop: linear; fused backprop: the chunk starts only (stages recomputed)"
    import dynbook.neural_de as nd
    f = _field()
    y0, t = torch.randn(4, 3, dtype=D), torch.linspace(0, 1, 3, dtype=D)
    a = [saved_bytes(lambda: odeint(f, y0, t, substeps=n, adjoint=True)) for n in (5, 500)]
    b = [saved_bytes(lambda: odeint(f, y0, t, substeps=n, fused=False)) for n in (5, 500)]
    c = [saved_bytes(lambda: odeint(f, y0, t, substeps=n)) for n in (5, 500)]
    assert a[0] == a[1] and b[1] > 50 * b[0] and c[0] == c[1] < b[0]
    old = nd._CHUNK_ROWS
    try:
        nd._CHUNK_ROWS = 4 * 4 * 10                      # chunks of 10 steps: 50 chunk starts per interval at 500 steps
        c2 = saved_bytes(lambda: odeint(f, y0, t, substeps=500))
    finally: nd._CHUNK_ROWS = old
    assert c2 - c[1] == 2 * 49 * 4 * 3 * 8              # two intervals × 49 more starts × (4, 3) float64


def test_euler_matches_torchdiffeq():
    tdq = pytest.importorskip("torchdiffeq")
    f = _field(seed=2)
    y0, t = torch.randn(4, 3, dtype=D), torch.linspace(0, 1, 11, dtype=D)
    ours = odeint(f, y0, t, method="euler")
    theirs = tdq.odeint(f, y0, t, method="euler").transpose(0, 1)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)


def test_bad_input_names_shapes():
    f = _field()
    y0, t = torch.randn(8, 3, dtype=D), torch.linspace(0, 1, 4, dtype=D)
    with pytest.raises(BadInputError, match="strictly increasing"): odeint(f, y0, torch.tensor([0., 1., 1.], dtype=D))
    with pytest.raises(BadInputError, match=r"\(5, 4\).*\(8, 3\)"): odeint(f, y0, torch.rand(5, 4).cumsum(1))
    with pytest.raises(BadInputError, match="NaN"): odeint(f, y0.clone().fill_(float("nan")), t)
    with pytest.raises(BadInputError, match="NaN"): odeint(f, y0, torch.tensor([0., float("nan")]))
    with pytest.raises(BadInputError, match=r"returned \(8, 2\) for a state of shape \(8, 3\)"): odeint(lambda s, y: y[:, :2], y0, t)
    with pytest.raises(BadInputError, match="substeps"): odeint(f, y0, t, substeps=0)
    with pytest.raises(BadInputError, match="rk4"): odeint(f, y0, t, method="rk45")
    with pytest.raises(BadInputError, match=r"dW must have shape .*\(8, 10, 3\)"): sdeint(f, f, y0, 0.1, 10, dW=torch.zeros(8, 9, 3))
    with pytest.raises(BadInputError, match="path"): signature(torch.zeros(3, 1, 2))
    with pytest.raises(BadInputError, match="z0"): cnf(f, torch.zeros(3))
    with pytest.raises(BadInputError, match="NaN"): make("neural_ode").fit(torch.full((20, 3), float("nan")), 0.1)


def test_milstein_equals_em_for_additive_noise():
    f = _field(seed=3)
    y0 = torch.randn(4, 3, dtype=D)
    g = lambda t, y: 0.2 * torch.ones_like(y)
    a = sdeint(f, g, y0, 0.01, 50, "euler", seed=5)
    b = sdeint(f, g, y0, 0.01, 50, "milstein", seed=5)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-14)


def test_em_gbm_strong_order():
    M, mu, sig = 2000, 1.0, 0.8
    dWf = torch.randn(M, 128, 1, generator=torch.Generator().manual_seed(1), dtype=D) / math.sqrt(128)
    XT = torch.exp((mu - sig ** 2 / 2) + sig * dWf.sum(1))
    err = []
    for n in (8, 32, 128):
        X = sdeint(lambda t, x: mu * x, lambda t, x: sig * x, torch.ones(M, 1, dtype=D), 1 / n, n, dW=dWf.reshape(M, n, -1, 1).sum(2))[:, -1]
        err.append(float((X - XT).abs().mean()))
    order = math.log(err[0] / err[-1]) / math.log(16)
    assert abs(order - 0.5) < 0.1


def test_reversible_heun_reconstructs():
    f, g = _field(seed=4), _field(seed=5)
    gs = lambda t, y: 0.3 * torch.tanh(g(t, y))
    h, n = 0.02, 100
    dW = torch.randn(3, n, 3, dtype=D) * math.sqrt(h)
    x0 = torch.randn(3, 3, dtype=D)
    with torch.no_grad():
        s = (x0, x0, f(0., x0), gs(0., x0))
        for k in range(n): s = reversible_heun_step(f, gs, k * h, h, dW[:, k], s)
        for k in reversed(range(n)): s = reversible_heun_reverse(f, gs, k * h, h, dW[:, k], s)
    assert float((s[0] - x0).abs().max()) < 1e-12


def test_cnf_linear_and_exact_trace():
    A = torch.randn(4, 4, dtype=D)
    _, dl = cnf(lambda t, z: z @ A.T, torch.randn(10, 4, dtype=D), t1=0.7, steps=3)
    torch.testing.assert_close(dl, torch.full((10,), -0.7 * float(A.trace()), dtype=D), rtol=0, atol=1e-12)
    # exact trace of a nonlinear field against the Jacobian from torch.func, over one Euler-size RK4 step's first stage
    f = _field(d=4, seed=6)
    z = torch.randn(5, 4, dtype=D)
    J = torch.func.vmap(torch.func.jacrev(lambda x: f(0., x[None])[0]))(z)
    from dynbook.neural_de import _trace
    zz = z.clone().requires_grad_(True)
    torch.testing.assert_close(_trace(f(0., zz), zz, None, False), J.diagonal(dim1=1, dim2=2).sum(1), rtol=0, atol=1e-12)
    # Hutchinson is unbiased: mean over many probes within 5 standard errors
    B = torch.randn(12, 12, dtype=D)
    _, dh = cnf(lambda t, z: z @ B.T, torch.randn(20000, 12, dtype=D), t1=1.0, steps=1)
    assert abs(float(dh.mean()) + float(B.trace())) < 5 * float(dh.std()) / math.sqrt(20000)


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 12), st.integers(1, 3), st.integers(0, 10**6))
def test_signature_chen_identity(L, d, seed):
    P = torch.randn(2, L, d, generator=torch.Generator().manual_seed(seed), dtype=D).cumsum(1)
    S = signature(P, 3)
    k = 1 + seed % (L - 1)                          # split point, 1 <= k <= L-1
    if k < L - 1:
        C = chen_product(signature(P[:, :k + 1], 3), signature(P[:, k:], 3))
        for c, s in zip(C, S): torch.testing.assert_close(c, s, rtol=0, atol=1e-12)
    torch.testing.assert_close(S[0], P[:, -1] - P[:, 0], rtol=0, atol=1e-12)
    # translation invariance and the level count of the flattened features
    torch.testing.assert_close(signature_features(P + 3.0, 3), signature_features(P, 3), rtol=0, atol=1e-10)
    assert signature_features(P, 3).shape == (2, d + d ** 2 + d ** 3)


def test_forecaster_protocol_and_checkpoint(tmp_path):
    assert "neural_ode" in available("neural_de") and registry_entry("neural_ode").citation == "chen2018neural"
    th = torch.linspace(0, 12, 300, dtype=D)
    x = torch.stack([th.cos(), th.sin()], 1)
    m = make("neural_ode", steps=60, hidden=16).fit([x[:200], x[200:]], 0.04)
    p = m.predict(x[:10], 7)
    assert p.shape == (7, 2) and m.predict(torch.stack([x[:10], x[5:15]]), 3).shape == (2, 3, 2)
    m.save(tmp_path / "m.pt")
    m2 = NeuralODEForecaster.load(tmp_path / "m.pt")
    torch.testing.assert_close(m2.predict(x[:10], 7), p, rtol=0, atol=0)
    ck = torch.load(tmp_path / "m.pt", weights_only=True)
    assert ck["version"] == CHECKPOINT_VERSION and ck["format"] == "dynbook.forecaster" and ck["name"] == "neural_ode"
    ck["version"] = 99; torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(BadInputError, match="version-99"): NeuralODEForecaster.load(tmp_path / "bad.pt")
    with pytest.raises(BadInputError, match="fit"): make("neural_ode").predict(x[:10], 3)


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("adjoint", [False, True])
def test_fused_kernel_equals_generic_stepper(layers, adjoint):
    f = MLPField(3, hidden=12, layers=layers)
    y0 = torch.randn(5, 3, dtype=D, requires_grad=True)
    t = torch.tensor([0.0, 0.3, 0.35, 1.1], dtype=D)
    ya, yb = (odeint(f, y0, t, substeps=6, adjoint=adjoint, fused=fu) for fu in (True, False))
    torch.testing.assert_close(ya, yb, rtol=0, atol=1e-13)
    ga = torch.autograd.grad(ya.cos().sum(), [y0, *f.parameters()])
    gb = torch.autograd.grad(yb.cos().sum(), [y0, *f.parameters()])
    for u, v in zip(ga, gb): torch.testing.assert_close(u, v, rtol=1e-11, atol=1e-12)


def test_fused_kernel_chunks_and_unbatched():
    import dynbook.neural_de as nd
    f = MLPField(2, hidden=8)
    y0 = torch.randn(3, 2, dtype=D, requires_grad=True)
    t = torch.tensor([0.0, 1.0], dtype=D)
    ref = torch.autograd.grad(odeint(f, y0, t, substeps=50, fused=False).sum(), [y0, *f.parameters()])
    old = nd._CHUNK_ROWS
    try:
        nd._CHUNK_ROWS = 4 * 3 * 7                       # chunks of 7 steps: 50 = 7·7 + 1 exercises a partial chunk
        for adj in (False, True):
            got = torch.autograd.grad(odeint(f, y0, t, substeps=50, adjoint=adj).sum(), [y0, *f.parameters()])
            tol = 1e-12 if not adj else 1e-8
            for u, v in zip(got, ref): torch.testing.assert_close(u, v, rtol=tol, atol=tol)
    finally: nd._CHUNK_ROWS = old
    with torch.no_grad():
        torch.testing.assert_close(odeint(f, y0[0], t, substeps=5), odeint(f, y0[0], t, substeps=5, fused=False), rtol=0, atol=1e-14)
    with pytest.raises(BadInputError, match="fused=True needs"): odeint(f, y0, t, method="euler", fused=True)
    with pytest.raises(BadInputError, match="dtype torch.float32"): odeint(f, y0.float(), t.float(), fused=True)   # dtype mismatch


def test_latent_ode_terms_and_bad_input():
    torch.manual_seed(0)
    m = LatentODE(2, latent=3, hidden=8, enc_hidden=8)
    x, t = torch.randn(4, 5, 2), torch.rand(4, 5).cumsum(1)
    mu, lv = m.encoder(x, t)
    assert mu.shape == lv.shape == (4, 3)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * lv).exp()), torch.distributions.Normal(0., 1.)).sum(1).mean()
    _, parts = m.loss(x, t, gen=torch.Generator().manual_seed(0))
    torch.testing.assert_close(parts["kl"], ref.detach(), rtol=1e-5, atol=1e-6)
    assert m.predict(x, t, t[:, -1:] + torch.tensor([[0.5, 1.0]])).shape == (4, 2, 2)
    with pytest.raises(BadInputError, match="after each series' last observation"): m.predict(x, t, t[:, :2])
    with pytest.raises(BadInputError, match=r"\(B, K, d\)"): m.loss(x[0], t[0])
    with pytest.raises(BadInputError, match="strictly increasing"): m.loss(x, t.flip(1))
    with pytest.raises(BadInputError, match="obs_std"): LatentODE(2, obs_std=0)
    log = m.fit(x, t, steps=3, batch_size=2)
    assert isinstance(log, TrainLog) and len(log) == 3


@pytest.mark.parametrize("kind", ["linear", "hermite"])
def test_cde_constant_field_identity(kind):
    g = torch.Generator().manual_seed(1)
    t = torch.rand(3, 7, generator=g, dtype=D).cumsum(1); x = torch.randn(3, 7, 2, generator=g, dtype=D)
    P = ControlPath(x, t, kind)
    A = torch.randn(3, 4, 3, generator=g, dtype=D); z0 = torch.randn(3, 4, dtype=D)
    z = cdeint(lambda z: A, z0, P, substeps=1)
    torch.testing.assert_close(z[:, -1], z0 + (A @ (P.X[:, -1] - P.X[:, 0])[..., None])[..., 0], rtol=0, atol=1e-12)
    # a CDE driven by the time channel alone is an ODE: dz = f(z) dt
    Pt = ControlPath(torch.zeros(1, 5, 1, dtype=D), torch.linspace(0, 1, 5, dtype=D), kind)
    zt = cdeint(lambda z: torch.cat([-z[..., None], torch.zeros_like(z[..., None])], -1), torch.ones(1, 1, dtype=D), Pt, substeps=20)
    torch.testing.assert_close(zt[0, :, 0], torch.exp(-torch.linspace(0, 1, 5, dtype=D)), rtol=0, atol=1e-9)
    assert NeuralCDE(3, out=2, dtype=D)(P).shape == (3, 2)
    with pytest.raises(BadInputError, match="K >= 2"): ControlPath(x[:, :1], t[:, :1])
    with pytest.raises(BadInputError, match="z0 must be"): cdeint(lambda z: A, z0[:2], P)


def test_signature_regression_recovers_linear_functional():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(300, 6, 2, generator=g, dtype=D).cumsum(1); t = torch.rand(300, 6, generator=g, dtype=D).cumsum(1)
    sr = SignatureRegression(depth=2, alpha=1e-10)
    F = sr.features(x, t)
    w = torch.randn(F.shape[1], generator=g, dtype=D)
    y = F @ w + 0.5
    sr.fit(x, t, y)
    torch.testing.assert_close(sr.predict(x[:20], t[:20]), y[:20], rtol=1e-6, atol=1e-6)
    with pytest.raises(BadInputError, match="fit the regression first"): SignatureRegression().predict(x, t)


def test_hybrid_field_starts_at_known_model_and_trains():
    known = lambda t, y: -y
    h = HybridField(known, MLPField(2, 8))
    y = torch.randn(4, 2, dtype=D)
    torch.testing.assert_close(h(0.0, y), -y, rtol=0, atol=0)
    odeint(h, y, torch.tensor([0.0, 0.5], dtype=D)).sum().backward()
    assert h.correction.net[-1].weight.grad is not None and float(h.correction.net[-1].weight.grad.abs().sum()) > 0


def test_neural_system_tangent_and_trace():
    A = torch.tensor([[-0.5, 0.3], [0.1, 0.2]], dtype=D)
    ns = NeuralSystem(lambda t, z: z @ A.T, x0=[1.0, 0.0], dt=0.01)
    assert abs(float(lyapunov_spectrum(ns, 100, k=2, transient=0).exponents.sum()) - float(A.trace())) < 1e-8
    f = MLPField(2, 8)
    kw = dict(x0=[0.3, 0.1], shift=[0.5, -0.5], scale=[2.0, 0.5], time_scale=0.2)
    a, b = NeuralSystem(f, **kw), NeuralSystem(lambda t, z: f(t, z), **kw)
    x, V = torch.randn(2, 4, dtype=D), torch.randn(2, 2, 4, dtype=D)
    for u, v in zip(a.tangent_rule(x, V, None), b.tangent_rule(x, V, None)): torch.testing.assert_close(u, v, rtol=1e-12, atol=1e-12)
    with pytest.raises(BadInputError, match="scale and time_scale"): NeuralSystem(f, x0=[0.0, 0.0], time_scale=0)


def test_forecaster_uses_shared_training_loop():
    th = torch.linspace(0, 6, 120, dtype=D)
    m = make("neural_ode", steps=5, hidden=8).fit(torch.stack([th.cos(), th.sin()], 1), 0.05)
    assert isinstance(m.log_, TrainLog) and len(m.losses_) == 5
