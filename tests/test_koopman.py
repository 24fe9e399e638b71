"koopman: DMD/DMDc/EDMD/kernel EDMD against exact spectra (hypothesis), ResDMD residuals, implied timescales, the forecaster protocol, the autoencoder, bad input, PyDMD agreement."
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from dynbook.core import BadInputError
from dynbook.forecast import make, available, registry_entry
from dynbook.simulate import sdeint
from dynbook.koopman import (dmd, delay_dmd, dmdc, edmd, kernel_edmd, residuals, Monomials, Polynomial, Fourier, RBF,
                             RandomFourier, Indicator, KernelFeatures, implied_timescales,
                             train_koopman_autoencoder, KoopmanAutoencoder)

F64 = torch.float64

def eig_distance(a, b):
    D = (a[:, None] - b[None]).abs()
    return max(float(D.min(1).values.max()), float(D.min(0).values.max()))

def stable_map(d, seed, radius=0.9):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(d, d, generator=g, dtype=F64)
    return radius * A / torch.linalg.eigvals(A).abs().max(), g

def orbit(A, x0, n):
    x = [x0]
    for _ in range(n): x.append(A @ x[-1])
    return torch.stack(x)

@settings(max_examples=15, deadline=None)
@given(d=st.integers(2, 8), seed=st.integers(0, 10 ** 6))
def test_dmd_recovers_linear_spectrum(d, seed):
    A, g = stable_map(d, seed)
    x = orbit(A, torch.randn(d, generator=g, dtype=F64), 3 * d)
    r = dmd(x)
    assert r.rank == d
    assert eig_distance(r.eigenvalues, torch.linalg.eigvals(A)) < 1e-8
    torch.testing.assert_close(r.operator, A, atol=1e-8, rtol=0)

def test_dmd_several_trajectories_and_pairs_agree():
    A, g = stable_map(5, 3)
    x = [orbit(A, torch.randn(5, generator=g, dtype=F64), 4) for _ in range(3)]     # 3 short runs: 12 pairs
    r1 = dmd(x)
    r2 = dmd(torch.cat([t[:-1] for t in x]), torch.cat([t[1:] for t in x]))
    assert eig_distance(r1.eigenvalues, torch.linalg.eigvals(A)) < 1e-9
    torch.testing.assert_close(r1.operator, r2.operator)

def test_dmd_rank_truncation_keeps_dominant_modes():
    # a rank-2 signal in 20 dimensions plus tiny noise: rank=2 returns the two eigenvalues
    t = torch.arange(200, dtype=F64) * 0.1
    g = torch.Generator().manual_seed(0)
    modes = torch.randn(2, 20, generator=g, dtype=F64)
    x = torch.stack([torch.cos(0.7 * t), torch.sin(0.7 * t)], 1) @ modes + 1e-9 * torch.randn(200, 20, generator=g, dtype=F64)
    r = dmd(x, rank=2, dt=0.1)
    torch.testing.assert_close(r.continuous_eigenvalues.imag.abs(), torch.full((2,), 0.7, dtype=F64), atol=1e-6, rtol=0)

def test_delay_dmd_frequencies():
    t = torch.arange(300, dtype=F64) * 0.05
    s = torch.cos(2.0 * t) + 0.3 * torch.sin(5.0 * t)
    r = delay_dmd(s[:, None], delays=6, dt=0.05)
    assert r.rank == 4
    w = torch.tensor([2j, -2j, 5j, -5j], dtype=torch.complex128)
    assert eig_distance(r.continuous_eigenvalues, w) < 1e-8
    assert r.predict(torch.zeros(6), 3).shape == (3, 1)

def test_dmdc_recovers_A_and_B():
    A, g = stable_map(6, 7)
    B = torch.randn(6, 2, generator=g, dtype=F64)
    u = torch.randn(40, 2, generator=g, dtype=F64)
    x = [torch.randn(6, generator=g, dtype=F64)]
    for k in range(40): x.append(A @ x[-1] + B @ u[k])
    r = dmdc(torch.stack(x), u)
    torch.testing.assert_close(r.A, A, atol=1e-9, rtol=0); torch.testing.assert_close(r.B, B, atol=1e-9, rtol=0)

def slow_manifold(mu, lam, dt, n, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=g, dtype=F64) * 2 - 1
    c = lam / (lam - 2 * mu)
    Y = torch.stack([X[:, 0] * math.exp(mu * dt), (X[:, 1] - c * X[:, 0] ** 2) * math.exp(lam * dt) + c * X[:, 0] ** 2 * math.exp(2 * mu * dt)], 1)
    return X, Y

@settings(max_examples=10, deadline=None)
@given(mu=st.floats(-0.5, -0.05), lam=st.floats(-3.0, -1.2), seed=st.integers(0, 1000))
def test_edmd_slow_manifold_exact(mu, lam, seed):
    X, Y = slow_manifold(mu, lam, 0.1, 100, seed)
    r = edmd(X, Y, dictionary=Monomials([(1, 0), (0, 1), (2, 0)]), dt=0.1)
    np.testing.assert_allclose(sorted(r.continuous_eigenvalues.real.tolist()), sorted([lam, 2 * mu, mu]), atol=1e-8)
    assert float(r.residuals.max()) < 1e-8
    assert float(residuals(r, *slow_manifold(mu, lam, 0.1, 50, seed + 1)).max()) < 1e-8       # on fresh data too

@settings(max_examples=10, deadline=None)
@given(omega=st.floats(0.01, 0.99), K=st.integers(1, 5))
def test_edmd_rotation_fourier_exact(omega, K):
    g = torch.Generator().manual_seed(0)
    X = torch.rand(200, 1, generator=g, dtype=F64)
    r = edmd(X, (X + omega) % 1, dictionary=Fourier(modes=K))
    k = torch.arange(1, K + 1, dtype=F64)
    exact = torch.cat([torch.ones(1, dtype=torch.complex128), torch.exp(2j * math.pi * k * omega), torch.exp(-2j * math.pi * k * omega)])
    assert eig_distance(r.eigenvalues, exact) < 1e-9
    assert float(r.residuals.max()) < 1e-8

def test_kernel_edmd_polynomial_kernel_linear_map():
    L = torch.tensor([[0.8, 0.3], [-0.1, 0.6]], dtype=F64)
    ev = torch.linalg.eigvals(L)
    g = torch.Generator().manual_seed(1)
    X = torch.randn(80, 2, generator=g, dtype=F64)
    r = kernel_edmd(X, X @ L.T, kernel="polynomial", degree=2)
    exact = torch.cat([torch.ones(1, dtype=ev.dtype), ev, torch.stack([ev[0] ** 2, ev[0] * ev[1], ev[1] ** 2])])
    assert len(r.eigenvalues) == 6 and eig_distance(r.eigenvalues, exact) < 1e-9

def test_kernel_edmd_equals_edmd_on_the_same_features():
    # the linear kernel's features are the state itself: kernel EDMD must agree with EDMD on {x}
    A, g = stable_map(3, 11)
    X = torch.randn(50, 3, generator=g, dtype=F64)
    r = kernel_edmd(X, X @ A.T, kernel="linear")
    assert eig_distance(r.eigenvalues, torch.linalg.eigvals(A)) < 1e-9

def test_lorenz_spurious_eigenvalues_have_large_residuals():
    from dynbook.simulate import simulate
    x = simulate("lorenz63", 2000, dt=0.05, transient=400, compile=False).x
    x = (x - x.mean(0)) / x.std(0)
    r = edmd(x, dictionary=Polynomial(3), dt=0.05)
    assert float(r.residuals[0]) < 1e-8 and abs(complex(r.eigenvalues[0]) - 1) < 1e-8
    assert float(r.residuals[1:].min()) > 1e-2
    z = r.eigenvalues[:3]
    assert torch.all(r.pseudospectrum(z) <= r.residuals[:3] + 1e-10)            # τ(λ) ≤ residual of any candidate at λ

def test_dictionaries_shapes_and_names():
    X = torch.randn(30, 2, dtype=F64)
    P = Polynomial(3).fit(X)
    assert P(X).shape == (30, 10) and P.names()[0] == "1" and "x0^3" in P.names()
    assert RBF(5).fit(X)(X).shape == (30, 8) and RandomFourier(7).fit(X)(X).shape == (30, 10)
    assert Fourier(2).fit(X)(X).shape == (30, 9)
    torch.testing.assert_close(Indicator(4, -1, 1).fit(X[:, :1])(X[:, :1]).sum(1), torch.ones(30, dtype=F64))

def test_implied_timescale_of_ornstein_uhlenbeck():
    # dX = -X dt + sqrt(2) dW: the Koopman eigenfunction x has eigenvalue e^{-τ}, so t2 = 1 exactly
    paths = sdeint(lambda t, x: -x, lambda t, x: torch.full_like(x, math.sqrt(2)), torch.zeros(400, 1, dtype=F64), dt=0.01, steps=4000,
                   save_every=10, seed=0)
    its = implied_timescales(paths[:, 50:], lags=[5, 10], dt=0.1, dictionary=Polynomial(1), k=1)
    # Euler–Maruyama's exact discrete rate: (1 - 0.01)^(1/0.01) per unit time
    t2 = -1 / (100 * math.log(0.99))
    np.testing.assert_allclose(its.timescales[:, 0].numpy(), t2, rtol=0.05)

@pytest.mark.parametrize("name,kw", [("dmd_delay", dict(delays=4)), ("edmd", {}), ("koopman_ae", dict(steps=20, hidden=8))])
def test_forecaster_protocol(name, kw):
    assert name in available("koopman") and registry_entry(name).family == "koopman"
    t = torch.arange(300, dtype=F64) * 0.05
    x = torch.stack([torch.cos(t), torch.sin(t)], 1)
    f = make(name, **kw).fit([x[:200], x[100:]], 0.05)
    ctx = torch.stack([x[i:i + 10] for i in (0, 50, 100)])
    assert f.predict(ctx, 7).shape == (3, 7, 2)
    assert f.predict(ctx[0], 7).shape == (7, 2)
    if name != "koopman_ae":                        # linear models are exact on a rotation
        torch.testing.assert_close(f.predict(x[:10], 20), x[10:30], atol=1e-5, rtol=0)

def test_autoencoder_losses_and_reencoding_runs():
    t = torch.arange(200, dtype=F64) * 0.1
    x = torch.stack([torch.cos(t), torch.sin(t)], 1)
    m = train_koopman_autoencoder([x], horizon=5, latent=4, hidden=8, steps=30, seed=0)
    assert m.history_.shape == (30, 3) and bool(torch.isfinite(m.history_).all())
    a, b = m.rollout(x[:3], 12), m.rollout(x[:3], 12, reencode_every=5)
    assert a.shape == b.shape == (3, 12, 2)
    torch.testing.assert_close(a[:, :5], b[:, :5])                               # identical until the first re-encoding

def test_bad_input():
    A, g = stable_map(4, 0)
    x = orbit(A, torch.randn(4, generator=g, dtype=F64), 10)
    with pytest.raises(BadInputError, match="larger than the data allow"): dmd(x, rank=5)
    with pytest.raises(BadInputError, match="numerical rank 2"): dmd(x[:, :2] @ torch.randn(2, 4, dtype=F64), rank=3)
    xn = x.clone(); xn[2, 1] = float("nan")
    for f in (dmd, edmd, lambda v: delay_dmd(v, 2)):
        with pytest.raises(BadInputError, match="NaN"): f(xn)
    with pytest.raises(BadInputError, match="NaN"): dmdc(xn, torch.zeros(10, 1))
    with pytest.raises(BadInputError, match="singular Gram matrix"): edmd(x, dictionary=Monomials([(1, 0, 0, 0), (0, 1, 0, 0), (1, 0, 0, 0)]))
    with pytest.raises(BadInputError, match="singular Gram matrix"): edmd(x, dictionary=Polynomial(3))       # 35 functions, 10 samples
    with pytest.raises(BadInputError, match="Did you mean"): edmd(x, dictionary="rbff")
    with pytest.raises(BadInputError, match="larger than the data allow"): kernel_edmd(x, kernel="linear", rank=5)
    with pytest.raises(BadInputError, match="rank"): dmd(x, rank=0)
    with pytest.raises(BadInputError, match="dt"): dmd(x, dt=-1)
    with pytest.raises(BadInputError, match="lag"): implied_timescales(x, lags=[20])
    with pytest.raises(BadInputError, match="kernel"): KernelFeatures("gauss")

def test_agrees_with_pydmd():
    pydmd = pytest.importorskip("pydmd")
    g = torch.Generator().manual_seed(4)
    t = torch.arange(120, dtype=F64) * 0.1
    x = torch.stack([torch.exp(-0.1 * t) * torch.cos(1.1 * t), torch.sin(0.5 * t)], 1) @ torch.randn(2, 30, generator=g, dtype=F64)
    x = x + 1e-3 * torch.randn(x.shape, generator=g, dtype=F64)
    ours = dmd(x, rank=4)
    ref = pydmd.DMD(svd_rank=4, exact=True).fit(x.numpy().T)
    assert eig_distance(ours.eigenvalues, torch.as_tensor(ref.eigs)) < 1e-10

def test_parallel_unroll_equals_recursion():
    from dynbook.koopman import unroll_linear
    g = torch.Generator().manual_seed(5)
    K, B = 0.5 * torch.randn(5, 5, generator=g, dtype=F64), torch.randn(5, 3, generator=g, dtype=F64)
    z0, u = torch.randn(2, 4, 5, generator=g, dtype=F64), torch.randn(2, 4, 12, 3, generator=g, dtype=F64)
    z, seq = z0, []
    for t in range(12): z = z @ K.T + u[..., t, :] @ B.T; seq.append(z)
    torch.testing.assert_close(unroll_linear(K, B, z0, u), torch.stack(seq, -2))

def test_controlled_autoencoder_trains_and_predicts():
    from dynbook.koopman import train_controlled_koopman
    g = torch.Generator().manual_seed(0)
    u = torch.rand(4, 39, 1, generator=g, dtype=F64) - 0.5
    x = [torch.zeros(4, 2, dtype=F64)]
    for t in range(39): x.append(x[-1] @ torch.tensor([[0.9, 0.1], [-0.1, 0.9]], dtype=F64) + u[:, t] * torch.tensor([0.0, 1.0], dtype=F64))
    x = torch.stack(x, 1)
    m = train_controlled_koopman(x, u, horizon=5, latent=4, hidden=8, steps=20)
    assert m.history_.shape == (20, 3)
    assert m.predict(x[:, 0], u[:, :7]).shape == (4, 7, 2)
    with pytest.raises(BadInputError, match="u \\(N, T-1, c\\)"): train_controlled_koopman(x, u[:, :5], horizon=5)
