"forecast: the protocol on every baseline, the registry, ridge regression, metric identities (hypothesis), attractor distances, the true model, bad input."
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from dynbook.core import BadInputError
from dynbook import forecast as fc
from dynbook.forecast import (Forecaster, register, available, make, registry_entry, ridge_regression, TrueModel, METRICS,
                              mse, mae, smape, correlation, normalised_error, valid_prediction_time, histogram_kl,
                              spectrum_distance, correlation_dimension_error, lyapunov_error, score)
from dynbook.simulate import simulate
from dynbook.systems import get

F64 = torch.float64
BASELINES = ["persistence", "climatology", "linear_ar", "mlp"]
FAST = {"mlp": dict(steps=60, hidden=16)}


@pytest.fixture(scope="module")
def lorenz():
    "Normalised Lorenz-63 sampled every 0.03: (train list, test (2, T, 3), mean, std)."
    x0 = torch.tensor([[1.0, 1.0, 20.0], [-5.0, 2.0, 25.0], [3.0, -4.0, 15.0], [0.0, 6.0, 30.0]], dtype=F64)
    x = simulate("lorenz63", 3 * 600, dt=0.01, x0=x0, transient=600, save_every=3, compile=False).x
    mu, sd = x[:2].reshape(-1, 3).mean(0), x[:2].reshape(-1, 3).std(0)
    x = (x - mu) / sd
    return list(x[:2]), x[2:], mu, sd

@pytest.fixture(scope="module")
def henon_runs():
    "Two normalised Hénon runs from different initial conditions and one Ikeda run, 4000 iterates each."
    h = simulate("henon", 4000, x0=torch.tensor([[0.1, 0.1], [0.3, -0.1]], dtype=F64), transient=100).x
    h = (h - h.mean((0, 1))) / h.reshape(-1, 2).std(0)
    ik = simulate("ikeda", 4000, transient=100).x
    return h[0], h[1], (ik - ik.mean(0)) / ik.std(0)


# --- the protocol -------------------------------------------------------------------------------

def test_registry_lists_baselines():
    assert available()[:4] == BASELINES
    assert set(available("baselines")) >= set(BASELINES)
    assert available("no-such-family") == []
    assert registry_entry("linear_ar").citation == "schmid2010"
    for n in BASELINES:
        f = make(n)
        assert isinstance(f, Forecaster) and f.name == n and not getattr(f, "fitted_", False)
    assert make("mlp") is not make("mlp")                                   # fresh instances

@pytest.mark.parametrize("name", BASELINES)
def test_protocol(name, lorenz):
    train, test, *_ = lorenz
    f = make(name, **FAST.get(name, {}))
    assert f.fit(train, 0.03) is f
    c = test[:, :50].clone()
    before = c.clone()
    one = f.predict(c[0], 7)
    batch = f.predict(c, 7)
    assert one.shape == (7, 3) and batch.shape == (2, 7, 3) and one.dtype == F64
    assert torch.equal(c, before)                                           # context untouched
    torch.testing.assert_close(batch[0], one, rtol=1e-6, atol=1e-9)         # batch row = single call
    assert torch.isfinite(batch).all()
    assert f.predict(c[0, -f.n_context:], 3).shape == (3, 3)              # n_context rows suffice

def test_baseline_semantics(lorenz):
    train, test, *_ = lorenz
    c = test[0, :20]
    p = make("persistence").fit(train, 0.03).predict(c, 5)
    assert torch.equal(p, c[-1].expand(5, 3))
    m = make("climatology").fit(train, 0.03).predict(c, 5)
    torch.testing.assert_close(m, torch.cat(train).mean(0).expand(5, 3))

def test_linear_ar_beats_persistence_short_horizon(lorenz):
    train, test, *_ = lorenz
    starts = range(50, 550, 50)
    ctx = torch.stack([test[0, s - 50:s] for s in starts]); truth = torch.stack([test[0, s:s + 5] for s in starts])
    err = {n: float(((make(n).fit(train, 0.03).predict(ctx, 5) - truth) ** 2).mean()) for n in ("persistence", "linear_ar")}
    assert err["linear_ar"] < 0.2 * err["persistence"]

def test_mlp_deterministic(lorenz):
    train, test, *_ = lorenz
    a = make("mlp", steps=40, hidden=8, seed=3).fit(train, 0.03).predict(test[0, :5], 20)
    b = make("mlp", steps=40, hidden=8, seed=3).fit(train, 0.03).predict(test[0, :5], 20)
    c = make("mlp", steps=40, hidden=8, seed=4).fit(train, 0.03).predict(test[0, :5], 20)
    assert torch.equal(a, b) and not torch.equal(a, c)

def test_register_custom_forecaster(lorenz):
    train, test, *_ = lorenz
    @register("_test_zero", family="_tests", citation="gilpin2023")
    class Zero(Forecaster):
        n_context = 2
        def _fit(self, trajectories, dt): self.seen_ = (len(trajectories), dt)
        def _predict(self, context, horizon): return torch.zeros(context.shape[0], horizon, context.shape[-1], dtype=F64)
    try:
        assert available("_tests") == ["_test_zero"] and Zero.name == "_test_zero"
        z = make("_test_zero").fit(train, 0.5)
        assert z.seen_ == (2, 0.5) and z.citation == "gilpin2023"
        assert torch.equal(z.predict(test[0, :2], 4), torch.zeros(4, 3, dtype=F64))
        with pytest.raises(BadInputError, match="n_context=2"): z.predict(test[0, :1], 4)
        register("_test_factory", lambda k=1: Zero(), family="_tests")
        assert isinstance(make("_test_factory", k=2), Zero) and make("_test_factory").name == "_test_factory"
    finally:
        for n in ("_test_zero", "_test_factory"): fc._REGISTRY.pop(n, None)

def test_single_tensor_and_stack_accepted(lorenz):
    train, test, *_ = lorenz
    a = make("linear_ar").fit(torch.stack(train), 0.03).predict(test[0, :20], 5)
    b = make("linear_ar").fit(list(train), 0.03).predict(test[0, :20], 5)
    torch.testing.assert_close(a, b)
    make("climatology").fit(train[0].numpy(), 0.03)


# --- ridge regression ---------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(n=st.integers(5, 40), p=st.integers(1, 6), q=st.integers(1, 3), alpha=st.floats(0.0, 10.0), seed=st.integers(0, 10**6))
def test_ridge_matches_normal_equations(n, p, q, alpha, seed):
    g = torch.Generator().manual_seed(seed)
    X, Y = torch.randn(n, p, dtype=F64, generator=g), torch.randn(n, q, dtype=F64, generator=g)
    W, b = ridge_regression(X, Y, alpha=alpha)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    if alpha > 1e-3 or n > p + 1:
        Wn = torch.linalg.solve(Xc.T @ Xc + alpha * torch.eye(p, dtype=F64), Xc.T @ Yc)
        torch.testing.assert_close(W, Wn, rtol=1e-6, atol=1e-8)
    # the gradient of the objective vanishes at (W, b)
    R = X @ W + b - Y
    torch.testing.assert_close(X.T @ R + alpha * W, torch.zeros_like(W), rtol=0, atol=1e-7 * (1 + float(X.abs().max() * R.abs().max()) * n))
    torch.testing.assert_close(R.sum(0), torch.zeros(q, dtype=F64), rtol=0, atol=1e-9 * n)

def test_ridge_no_intercept_and_vector():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(30, 3, dtype=F64, generator=g); w = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    W, b = ridge_regression(X, X @ w, intercept=False)
    torch.testing.assert_close(W, w); assert float(b) == 0.0
    W2, _ = ridge_regression(torch.cat([X, X[:, :1]], 1), X @ w)          # rank deficient: minimum-norm solution
    torch.testing.assert_close(torch.cat([X, X[:, :1]], 1) @ W2, X @ w - (X @ w).mean() + (X @ w).mean())


# --- metric identities --------------------------------------------------------------------------

series = arrays(np.float64, st.tuples(st.integers(2, 40), st.integers(1, 4)), elements=st.floats(-1e3, 1e3, allow_subnormal=False))

@settings(max_examples=60, deadline=None)
@given(y=series, data=st.data())
def test_pointwise_identities(y, data):
    y = torch.from_numpy(y)
    z = torch.from_numpy(data.draw(arrays(np.float64, y.shape, elements=st.floats(-1e3, 1e3, allow_subnormal=False))))
    assert smape(y, y) == 0.0 and mse(y, y) == 0.0 and mae(y, y) == 0.0
    s = smape(z, y)
    assert 0.0 <= s <= 200.0 + 1e-9
    assert abs(s - smape(y, z)) < 1e-9                                     # symmetric
    assert mse(z, y) >= 0 and mae(z, y) >= 0 and mae(z, y) ** 2 <= mse(z, y) * (1 + 1e-12) + 1e-12
    r = correlation(z, y)
    assert -1.0 <= r <= 1.0
    nonconst = (y.max(0).values - y.min(0).values) > 1e-3 * (1 + y.abs().max(0).values)
    if bool(nonconst.all()):
        assert abs(correlation(y, y) - 1.0) < 1e-9
        assert abs(correlation(3.0 * y + 2.0, y) - 1.0) < 1e-9                # affine invariance

@settings(max_examples=40, deadline=None)
@given(y=series, k=st.integers(0, 39), thr=st.floats(0.05, 2.0))
def test_vpt_properties(y, k, thr):
    y = torch.from_numpy(y)
    T = y.shape[0]
    if float((y ** 2).sum()) == 0: y = y + 1.0
    assert valid_prediction_time(y, y, 0.1, 2.0, thr) == pytest.approx(T * 0.1 * 2.0)   # exact model: whole horizon
    k = min(k, T - 1)
    bad = y.clone(); bad[k:] += 1e4 * (1 + y.abs().max())
    assert valid_prediction_time(bad, y, 0.1, 2.0, thr) == pytest.approx(k * 0.1 * 2.0)
    e = normalised_error(bad, y)
    assert (e >= 0).all() and e.shape == (T,)

def test_vpt_monotone_in_threshold(lorenz):
    train, test, *_ = lorenz
    f = make("linear_ar").fit(train, 0.03)
    p, t = f.predict(test[0, :50], 200), test[0, 50:250]
    v = [valid_prediction_time(p, t, 0.03, 0.9056, th) for th in (0.1, 0.2, 0.4, 0.8)]
    assert v == sorted(v)

def test_score_keys_follow_metrics(henon_runs):
    a, b, _ = henon_runs
    s = score(a[:50], b[:50], 1.0, 0.42, free_run=a, reference=b)
    assert list(s) == [m.name for m in METRICS]
    assert all(isinstance(v, float) and math.isfinite(v) for v in s.values())
    assert {m.better for m in METRICS} == {"lower", "higher"}
    assert [m.name for m in METRICS if m.higher_is_better] == ["correlation", "vpt"]


# --- attractor distances ------------------------------------------------------------------------

def test_attractor_distances_same_vs_other(henon_runs):
    a, b, ik = henon_runs
    same = dict(kl=histogram_kl(a, b), H=spectrum_distance(a, b), D=correlation_dimension_error(a, b), L=lyapunov_error(a, b, 1.0, dim=2, delay=1))
    other = dict(kl=histogram_kl(ik, b), H=spectrum_distance(ik, b), D=correlation_dimension_error(ik, b), L=lyapunov_error(ik, b, 1.0, dim=2, delay=1))
    assert same["kl"] < 0.1 and same["H"] < 0.1 and same["D"] < 0.1 and same["L"] < 0.1, same
    for k in same: assert other[k] > 2 * same[k], (k, same, other)
    for f in (histogram_kl, spectrum_distance, correlation_dimension_error):   # zero up to round-off
        assert abs(f(a, a)) < 1e-12

def test_constant_free_run_conventions(henon_runs):
    a, b, _ = henon_runs
    flat = torch.zeros_like(a)
    assert spectrum_distance(flat, b) == pytest.approx(1.0)
    assert correlation_dimension_error(flat, b) == pytest.approx(correlation_dimension_error(b, flat))
    assert histogram_kl(flat, b) > 1.0
    assert lyapunov_error(flat, b, 1.0, dim=2, delay=1) > 0.2

def test_histogram_kl_outside_range_and_marginals(henon_runs):
    a, b, _ = henon_runs
    assert histogram_kl(a + 100.0, b) > 3.0                                # all mass in the overflow cell
    x = torch.randn(3000, 5, dtype=F64, generator=torch.Generator().manual_seed(0))
    y = torch.randn(3000, 5, dtype=F64, generator=torch.Generator().manual_seed(1))
    assert histogram_kl(x, y) < 0.05 and histogram_kl(2 * x, y) > 0.2      # d > 3: mean of the marginals


# --- the true model -----------------------------------------------------------------------------

def test_true_model_reproduces_data(lorenz):
    train, test, mu, sd = lorenz
    tm = TrueModel("lorenz63", mu, sd).fit(train, 0.03)
    assert tm.k_ == 3 and tm.name == "true_model"
    pred = tm.predict(test[:, :10], 300)
    for i in range(2):
        assert valid_prediction_time(pred[i], test[i, 10:310], 0.03, 0.9056) == pytest.approx(300 * 0.03 * 0.9056)
        assert mse(pred[i], test[i, 10:310]) < 1e-12

def test_true_model_map(henon_runs):
    h = simulate("henon", 300, transient=100).x
    mu, sd = h.mean(0), h.std(0)
    x = (h - mu) / sd
    tm = TrueModel(get("henon"), mu, sd).fit([x], 1.0)
    torch.testing.assert_close(tm.predict(x[:100], 20), x[100:120], rtol=0, atol=1e-9)
    with pytest.raises(BadInputError, match="map"): TrueModel("henon", mu, sd).fit([x], 0.5)


# --- bad input ----------------------------------------------------------------------------------

def test_bad_input(lorenz):
    train, test, mu, sd = lorenz
    with pytest.raises(BadInputError, match="Unknown forecaster 'persistance'.*Did you mean 'persistence'"): make("persistance")
    with pytest.raises(BadInputError, match="make"): make("linear_ar", bogus=1)
    with pytest.raises(BadInputError, match="non-empty string"): register("")
    p = make("persistence")
    with pytest.raises(BadInputError, match="before predict"): p.predict(test[0, :5], 3)
    with pytest.raises(BadInputError, match="non-empty list"): p.fit([], 0.03)
    with pytest.raises(BadInputError, match="shape"): p.fit([torch.zeros(10)], 0.03)
    with pytest.raises(BadInputError, match="dt"): p.fit(train, -1.0)
    with pytest.raises(BadInputError, match="dt"): p.fit(train, "fast")
    nan = train[0].clone(); nan[3, 0] = float("nan")
    with pytest.raises(BadInputError, match="NaN"): p.fit([nan], 0.03)
    with pytest.raises(BadInputError, match="same dimension"): p.fit([train[0], train[1][:, :2]], 0.03)
    p.fit(train, 0.03)
    for h in (0, -3, 2.5, True):
        with pytest.raises(BadInputError, match="horizon"): p.predict(test[0, :5], h)
    with pytest.raises(BadInputError, match="d=3"): p.predict(test[0, :5, :2], 3)
    with pytest.raises(BadInputError, match="shape"): p.predict(test[0, 0], 3)
    with pytest.raises(BadInputError, match="NaN"): p.predict(test[0, :5] * float("nan"), 3)
    with pytest.raises(BadInputError, match="n_context"): make("linear_ar", lags=8).fit(train, 0.03).predict(test[0, :7], 3)
    with pytest.raises(BadInputError, match="lags"): make("linear_ar", lags=0)
    with pytest.raises(BadInputError, match="same shape"): mse(test[0, :5], test[0, :6])
    with pytest.raises(BadInputError, match="NaN"): smape(test[0, :5] * float("inf"), test[0, :5])
    with pytest.raises(BadInputError, match="lyapunov_exponent"): valid_prediction_time(test[0], test[0], 0.03, 0.0)
    with pytest.raises(BadInputError, match="identically zero"): normalised_error(test[0], torch.zeros_like(test[0]))
    with pytest.raises(BadInputError, match="both"): score(test[0], test[0], 0.03, 0.9, reference=test[1])
    with pytest.raises(BadInputError, match="same d"): histogram_kl(test[0], test[1][:, :2])
    with pytest.raises(BadInputError, match="component"): lyapunov_error(test[0], test[1], 0.03, component=3)
    with pytest.raises(BadInputError, match="Unknown system"): TrueModel("lorenz64")
    with pytest.raises(BadInputError, match="dimension 40"): TrueModel("lorenz96").fit(train, 0.03)
    with pytest.raises(BadInputError, match="std"): TrueModel("lorenz63", mu, -sd)
