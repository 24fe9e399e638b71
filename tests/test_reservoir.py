"reservoir: reservoir construction, states vs an independent loop, readout, the esn/nvar forecaster protocol, memory capacity bounds (hypothesis), bad input."
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from dynbook.core import BadInputError
from dynbook.forecast import available, make, registry_entry, ridge_regression, valid_prediction_time
from dynbook.reservoir import (ESN, NVAR, Reservoir, memory_capacity, nvar_features, random_reservoir, reservoir_states,
                               ridge_readout, spectral_radius)
from dynbook.simulate import simulate

F64 = torch.float64


@pytest.fixture(scope="module")
def lorenz():
    "Normalised Lorenz-63 sampled every 0.02: (train (T, 3), test (T, 3))."
    x0 = torch.tensor([[1.0, 1.0, 20.0], [-5.0, 2.0, 25.0]], dtype=F64)
    x = simulate("lorenz63", 2 * 3000, dt=0.01, x0=x0, transient=1000, save_every=2, compile=False).x
    mu, sd = x[0].mean(0), x[0].std(0)
    x = (x - mu) / sd
    return x[0], x[1]


def test_registered():
    assert {"esn", "nvar"} <= set(available("reservoir"))
    assert registry_entry("esn").citation == "jaeger2004" and registry_entry("nvar").citation == "gauthier2021"


@pytest.mark.parametrize("rho,kind", [(0.5, "sparse"), (1.3, "sparse"), (0.9, "orthogonal")])
def test_spectral_radius(rho, kind):
    r = random_reservoir(80, 2, rho, kind=kind, seed=4)
    assert abs(float(spectral_radius(r.W)) - rho) < 1e-10


def test_states_match_formula():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(25, 2, generator=g, dtype=F64)
    for act in ("tanh", "linear"):
        r = random_reservoir(15, 2, 0.8, bias_scaling=0.2, leak=0.5, activation=act, density=0.3, seed=1)
        f = torch.tanh if act == "tanh" else (lambda v: v)
        x, ref = torch.zeros(15, dtype=F64), []
        for t in range(25):
            x = 0.5 * x + 0.5 * f(r.W @ x + r.W_in @ u[t] + r.b); ref.append(x)
        torch.testing.assert_close(reservoir_states(r, u), torch.stack(ref))


def test_batched_reservoirs_equal_single():
    rb = random_reservoir(20, 3, 0.9, batch=3, seed=2)
    u = torch.randn(30, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    xb = reservoir_states(rb, u)
    for i in range(3):
        torch.testing.assert_close(xb[i], reservoir_states(Reservoir(rb.W[i], rb.W_in[i], rb.b[i]), u))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(5, 40), p=st.integers(1, 5), alpha=st.floats(0.0, 10.0))
def test_ridge_readout_equals_ridge_regression(n, p, alpha):
    g = torch.Generator().manual_seed(n * 7 + p)
    F, Y = torch.randn(n + p + 2, p + 1, generator=g, dtype=F64), torch.randn(n + p + 2, 2, generator=g, dtype=F64)
    W1, b1 = ridge_readout(F, Y, alpha)
    W2, b2 = ridge_regression(F, Y, alpha=alpha)
    torch.testing.assert_close(W1, W2, rtol=1e-7, atol=1e-8); torch.testing.assert_close(b1, b2, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("name,kw", [("esn", dict(units=200)), ("nvar", {})])
def test_forecaster_protocol(lorenz, name, kw):
    train, test = lorenz
    m = make(name, **kw).fit([train], 0.02)
    ctx = torch.stack([test[:200], test[400:600]])
    p = m.predict(ctx, 150)
    assert p.shape == (2, 150, 3) and p.dtype == F64
    torch.testing.assert_close(m.predict(ctx[1], 150), p[1])               # unbatched == batched row
    lam = 0.9056
    vpt = valid_prediction_time(p[0], test[200:350], 0.02, lam)
    assert vpt > 1.0, (name, vpt)
    # same seed, same forecaster
    torch.testing.assert_close(make(name, **kw).fit([train], 0.02).predict(ctx, 20), p[:, :20])


def test_nvar_features_count():
    f = nvar_features(torch.randn(10, 3, dtype=F64), delays=3, skip=2)
    assert f.shape == (10 - 4, 1 + 9 + 45)


def test_memory_capacity_linear_equals_n():
    r = random_reservoir(15, 1, 0.9, kind="orthogonal", activation="linear", seed=3)
    mc = memory_capacity(r, max_delay=60, n_train=6000, n_test=3000)
    assert abs(mc.total - 15) < 0.15, mc


@settings(max_examples=6, deadline=None)
@given(rho=st.floats(0.3, 1.1), s=st.floats(0.05, 3.0), seed=st.integers(0, 100))
def test_memory_capacity_at_most_n(rho, s, seed):
    r = random_reservoir(10, 1, rho, input_scaling=s, bias_scaling=0.2, seed=seed)
    mc = memory_capacity(r, max_delay=30, n_train=3000, n_test=1500)
    # MC ≤ N, up to the finite-sample upward bias ≈ max_delay / n_test
    assert mc.total <= 10 + 30 / 1500 + 0.05, mc
    assert bool((mc.per_delay >= 0).all() and (mc.per_delay <= 1 + 1e-12).all())


def test_memory_capacity_depends_on_input_scale():
    lo = memory_capacity(random_reservoir(10, 1, 0.9, kind="orthogonal", input_scaling=0.05, seed=0), 30, 3000, 1500).total
    hi = memory_capacity(random_reservoir(10, 1, 0.9, kind="orthogonal", input_scaling=3.0, seed=0), 30, 3000, 1500).total
    assert lo > 9 and hi < 0.6 * lo


@pytest.mark.parametrize("f,msg", [
    (lambda: random_reservoir(10, 1, spectral_radius=0.0), "spectral_radius"),
    (lambda: random_reservoir(10, 1, spectral_radius=-0.5), "spectral_radius"),
    (lambda: ESN(spectral_radius=0), "spectral_radius"),
    (lambda: random_reservoir(10, 1, leak=0), "leak"),
    (lambda: random_reservoir(10, 1, density=2.0), "density"),
    (lambda: random_reservoir(10, 1, kind="ring"), "kind"),
    (lambda: ESN(20, washout=100).fit([torch.randn(50, 2, dtype=F64)], 0.1), "washout=100 is not shorter"),
    (lambda: ESN(200, washout=0).fit([torch.randn(100, 2, dtype=F64)], 0.1), "fewer units"),
    (lambda: ridge_readout(torch.randn(5, 10, dtype=F64), torch.randn(5, 1, dtype=F64), 1.0), "10 features but only 5"),
    (lambda: NVAR(delays=3).fit([torch.randn(100, 3, dtype=F64)[:3]], 0.1), "rows"),
    (lambda: memory_capacity(random_reservoir(10, 1), max_delay=50, washout=10), "washout"),
])
def test_bad_input(f, msg):
    with pytest.raises(BadInputError, match=msg): f()


def test_nan_input():
    x = torch.randn(300, 3, dtype=F64); x[7, 2] = float("nan")
    with pytest.raises(BadInputError, match="NaN"): ESN(20).fit([x], 0.1)
    with pytest.raises(BadInputError, match="NaN"): NVAR().fit([x], 0.1)
    with pytest.raises(BadInputError, match="NaN"): reservoir_states(random_reservoir(10, 3), x)
    m = ESN(20, washout=10).fit([torch.randn(300, 3, dtype=F64)], 0.1)
    with pytest.raises(BadInputError, match="NaN"): m.predict(x[:20], 5)
