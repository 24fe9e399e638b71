"reservoir: reservoir construction, states vs an independent loop, readout, the esn/nvar/gtf_rnn/lstm forecaster protocol, memory capacity bounds (hypothesis), PLRNN Jacobians and GTF identities, LEM, the linear RNN of the curse-of-memory demo, bad input."
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from dynbook.core import BadInputError
from dynbook.forecast import available, make, registry_entry, ridge_regression, valid_prediction_time
from dynbook.reservoir import (ESN, GTFRNN, LEM, NVAR, PLRNN, LinearRNN, RecurrentForecaster, Reservoir, gradient_norm,
                               gtf_loss, gtf_train, memory_capacity, memory_loss, nvar_features, random_reservoir,
                               reservoir_states, ridge_readout, spectral_radius)
from dynbook.invariants import lyapunov_spectrum
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
    assert {"esn", "nvar", "gtf_rnn", "lstm"} <= set(available("reservoir"))
    assert registry_entry("esn").citation == "jaeger2004" and registry_entry("nvar").citation == "gauthier2021"
    assert registry_entry("gtf_rnn").citation == "hess2023" and registry_entry("lstm").citation == "hochreiter1997"
    for n in ("esn", "nvar", "gtf_rnn", "lstm"):            # the benchmark imports a method's module in its workers
        assert registry_entry(n).factory.__module__ == "dynbook.reservoir"
    assert make("lstm").cell == "lstm"


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
    (lambda: ESN(200, washout=0).fit([torch.randn(3, 2, dtype=F64)], 0.1), "only 2 training samples"),
    (lambda: PLRNN(2, observed=3), "observed=3 must not exceed latent=2"),
    (lambda: PLRNN(0), "latent"),
    (lambda: PLRNN(3, hidden=0), "hidden"),
    (lambda: gtf_train(PLRNN(3, 4), [torch.randn(50, 3)], alpha=1.5), r"alpha must be in \[0, 1\]"),
    (lambda: gtf_train(PLRNN(3, 4), [torch.randn(50, 3)], seq_len=60), "no trajectory has the 61 rows"),
    (lambda: gtf_train(PLRNN(3, 4), [torch.randn(50, 2)], seq_len=5), "the PLRNN observes 3"),
    (lambda: GTFRNN(latent=2, steps=1).fit([torch.randn(50, 3, dtype=F64)], 0.1), "latent=2 is smaller"),
    (lambda: GTFRNN(alpha=2.0), "alpha"),
    (lambda: GTFRNN(lr=0), "lr"),
    (lambda: RecurrentForecaster("rnn"), "cell must be"),
    (lambda: RecurrentForecaster(seq_len=5, washout=5), "washout=5 must be shorter"),
    (lambda: RecurrentForecaster(hidden=0), "hidden"),
    (lambda: LEM(0, 4), "input_size"),
    (lambda: LEM(2, 4, dt=-1), "dt"),
    (lambda: LinearRNN(4, "exp"), "parameterization"),
    (lambda: LinearRNN(0), "units"),
    (lambda: LinearRNN(3).memory(0), "length"),
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


def test_nan_input_trained_models():
    x = torch.randn(300, 3, dtype=F64); x[7, 2] = float("nan")
    with pytest.raises(BadInputError, match="NaN"): GTFRNN(steps=1).fit([x], 0.1)
    with pytest.raises(BadInputError, match="NaN"): RecurrentForecaster(steps=1).fit([x], 0.1)
    with pytest.raises(BadInputError, match="NaN"): gtf_train(PLRNN(3, 4), [x.float()], steps=1)
    with pytest.raises(BadInputError, match="NaN"): memory_loss(LinearRNN(3), torch.tensor([1.0, float("nan")]))


def test_esn_data_limited_shrinks_units():
    x = torch.randn(120, 3, dtype=F64).cumsum(0) * 0.1
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = ESN(300, washout=20).fit([x], 0.1)
    assert m.units_ == (99 - 3) // 2 and m.reservoir_.units == 48
    assert any("using 48 units" in str(v.message) for v in w)
    assert torch.isfinite(m.predict(x[:30], 10)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ESN(50, washout=20).fit([x], 0.1).units_ == 50               # enough data: no warning, no change


@pytest.mark.parametrize("hidden,M,N", [(8, 3, 3), (None, 5, 3), (6, 4, 2)])
def test_plrnn_jacobian_and_system(hidden, M, N):
    net = PLRNN(M, hidden, observed=N, seed=2, dtype=F64)
    z = torch.randn(7, M, dtype=F64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(net.jacobian(z), torch.vmap(torch.func.jacrev(net.step))(z))
    S = net.as_system()
    with torch.no_grad():
        torch.testing.assert_close(S.rhs(z), net.step(z))
        torch.testing.assert_close(S.jacobian(z), net.jacobian(z))
        torch.testing.assert_close(S.generated_rule(z, S.param_tensor()), net.step(z))      # sympy equations
        torch.testing.assert_close(net.rollout(z, 4)[:, -1], net.step(net.step(net.step(net.step(z)))))
    assert S.kind == "map" and S.dim == M


def test_plrnn_lyapunov_of_linear_map():
    net = PLRNN(3, 4, seed=0, dtype=F64)
    A = torch.tensor([1.05, -0.7, 0.3], dtype=F64)
    with torch.no_grad(): net.W1.zero_(); net.A.copy_(A)
    ls = lyapunov_spectrum(net.as_system(), 100, x0=torch.ones(2, 3, dtype=F64), transient=0)
    torch.testing.assert_close(ls.exponents, torch.log(A.abs()).expand(2, 3))


def test_gtf_loss_limits():
    net = PLRNN(3, 5, seed=1, dtype=F64)
    x = torch.randn(3, 9, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(gtf_loss(net, x, 0.0), ((net.rollout(x[:, 0], 8) - x[:, 1:]) ** 2).mean())
        torch.testing.assert_close(gtf_loss(net, x, 1.0), ((net.step(x[:, :-1]) - x[:, 1:]) ** 2).mean())
    # latent components (M > N) are never forced: alpha = 1 still runs them freely
    net5 = PLRNN(5, 5, observed=3, seed=1, dtype=F64)
    with torch.no_grad():
        z, ref = net5.lift(x[:, 0]), 0.0
        for t in range(1, 9):
            z = net5.step(z); ref = ref + ((z[:, :3] - x[:, t]) ** 2).mean(); z = torch.cat([x[:, t], z[:, 3:]], -1)
        torch.testing.assert_close(gtf_loss(net5, x, 1.0), ref / 8)


def test_gtf_bounds_gradients_of_an_expanding_map():
    "A PLRNN whose Jacobian norm is 1.3 everywhere: BPTT gradients grow like 1.3^T, GTF with α ≥ 1 − 1/1.3 does not."
    net = PLRNN(2, None, seed=0, dtype=F64)
    with torch.no_grad(): net.W.zero_(); net.A.copy_(torch.tensor([1.3, -1.3], dtype=F64)); net.h.zero_()
    x = torch.randn(4, 201, 2, dtype=F64, generator=torch.Generator().manual_seed(0)) * 0.1
    g = {a: [gradient_norm(net, lambda: gtf_loss(net, x[:, :T + 1], a)) for T in (10, 50, 200)] for a in (0.0, 0.3)}
    assert g[0.0][2] > 1e10 * g[0.0][0]
    assert max(g[0.3]) < 10 * g[0.3][0]


def test_gtf_train_logs_gradient_norms():
    x = torch.randn(200, 3).cumsum(0) * 0.05
    net = PLRNN(3, 8, seed=0)
    log = gtf_train(net, [x], alpha=0.3, seq_len=10, batch_size=4, steps=20, lr=1e-2)
    assert len(log) == 20 and bool(torch.isfinite(log.grad_norms).all()) and float(log.losses[-1]) < float(log.losses[0])
    net2 = PLRNN(3, 8, seed=0)
    log2 = gtf_train(net2, [x], alpha=0.3, seq_len=10, batch_size=4, steps=20, lr=1e-2)
    torch.testing.assert_close(log.losses, log2.losses)                      # seeded


def test_lem_step_formula():
    lem = LEM(3, 5, dt=0.7).double()
    u = torch.randn(2, 4, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    P = {k: v.detach() for k, v in lem.named_parameters()}
    y, z = torch.zeros(2, 5, dtype=F64), torch.zeros(2, 5, dtype=F64)
    ref = []
    for t in range(4):
        a = u[:, t] @ P["inp.weight"].T + P["inp.bias"]; h = y @ P["hid.weight"].T + P["hid.bias"]
        db, dh = 0.7 * torch.sigmoid(a[:, :5] + h[:, :5]), 0.7 * torch.sigmoid(a[:, 5:10] + h[:, 5:10])
        z = (1 - dh) * z + dh * torch.tanh(h[:, 10:] + a[:, 10:15])
        y = (1 - db) * y + db * torch.tanh(z @ P["zy.weight"].T + P["zy.bias"] + a[:, 15:])
        ref.append(y)
    with torch.no_grad():
        out, (yl, zl) = lem(u)
        torch.testing.assert_close(out, torch.stack(ref, 1)); torch.testing.assert_close(zl, z)
        out2, _ = lem(u[:, 2:], (out[:, 1], lem(u[:, :2])[1][1]))           # continuing from a state
        torch.testing.assert_close(out2, out[:, 2:])


@pytest.mark.parametrize("make_f", [lambda: GTFRNN(steps=30), lambda: GTFRNN(latent=5, steps=10),
                                    lambda: RecurrentForecaster("lstm", hidden=8, steps=20),
                                    lambda: RecurrentForecaster("gru", hidden=8, steps=5),
                                    lambda: RecurrentForecaster("lem", hidden=8, steps=5)])
def test_trained_forecaster_protocol(lorenz, make_f):
    train, test = lorenz
    m = make_f().fit([train[:800]], 0.02)
    ctx = torch.stack([test[:50], test[100:150]])
    p = m.predict(ctx, 30)
    assert p.shape == (2, 30, 3) and p.dtype == F64 and bool(torch.isfinite(p).all())
    torch.testing.assert_close(m.predict(ctx[1], 30), p[1], rtol=1e-5, atol=1e-5)        # unbatched == batched row
    torch.testing.assert_close(make_f().fit([train[:800]], 0.02).predict(ctx, 30), p)     # seeded
    assert len(m.log_) == m.steps


def test_trained_forecasters_short_data():
    x = torch.randn(12, 3, dtype=F64).cumsum(0) * 0.1           # shorter than the default segments: shortened
    assert GTFRNN(steps=2).fit([x], 0.1).predict(x, 3).shape == (3, 3)
    assert RecurrentForecaster(steps=2).fit([x], 0.1).predict(x, 3).shape == (3, 3)


@settings(max_examples=20, deadline=None)
@given(w=st.floats(-20, 20))
def test_stable_parameterisation_stays_in_unit_interval(w):
    net = LinearRNN(1, "stable")
    with torch.no_grad():
        net.w.fill_(w)
        lam = float(net.lam)
        assert 0 <= lam < 1 or (lam == 1 and w < -15)             # exp(-e^w) rounds to 1 only for very negative w
        k = torch.arange(5, dtype=F64)
        torch.testing.assert_close(net.memory(5), net.c * net.b * torch.tensor(lam, dtype=F64) ** k)


def test_linear_rnn_recurrence_is_convolution():
    for par in ("direct", "stable"):
        net = LinearRNN(5, par, seed=3)
        x = torch.randn(3, 40, dtype=F64, generator=torch.Generator().manual_seed(0))
        rho = net.memory(40)
        conv = torch.stack([(rho[:t + 1].flip(0) * x[:, :t + 1]).sum(-1) for t in range(40)], 1)
        with torch.no_grad(): torch.testing.assert_close(net(x), conv.detach())
        target = torch.zeros(40, dtype=F64)
        torch.testing.assert_close(memory_loss(net, target), (rho ** 2).sum())
