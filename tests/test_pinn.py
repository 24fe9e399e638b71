"pinn: torch.func derivatives against autograd, causal weights against their definition (hypothesis), exact hard constraints, collocation grids, training on an ODE with a known solution, checkpoints, bad input."
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from dynbook.core import BadInputError
from dynbook.pinn import PINN, Collocation, PINNResult, causal_weights, derivatives, fourier_features, train_pinn

B2 = [(0.0, 1.0), (0.0, 2 * math.pi)]


def test_derivatives_match_autograd():
    net = PINN(B2, out_dim=2, width=16, depth=2, periodic=(1,), fourier_scale=1.5, seed=1)
    z = torch.rand(20, 2) * torch.tensor([1.0, 2 * math.pi])
    u, J, H = derivatives(net, z, order=2)
    zz = z.clone().requires_grad_()
    uu = net(zz)
    torch.testing.assert_close(u, uu)
    for i in range(2):
        g = torch.autograd.grad(uu[:, i].sum(), zz, create_graph=True)[0]
        torch.testing.assert_close(J[:, i], g, atol=1e-5, rtol=1e-5)
        for a in range(2):
            h = torch.autograd.grad(g[:, a].sum(), zz, retain_graph=True)[0]
            torch.testing.assert_close(H[:, i, a], h, atol=1e-4, rtol=1e-4)
    u1, J1 = derivatives(net, z)
    torch.testing.assert_close(J1, J)


def test_derivatives_carry_parameter_gradients():
    "The parameter gradient of a residual built by `derivatives` equals the one built by autograd with create_graph."
    net = PINN(B2, width=8, depth=2, seed=0)
    z = torch.rand(5, 2)
    u, J = derivatives(net, z)
    g1 = torch.autograd.grad((J[:, 0, 0] + 3 * J[:, 0, 1]).pow(2).sum(), net.layers[0].weight)[0]
    zz = z.clone().requires_grad_()
    g = torch.autograd.grad(net(zz).sum(), zz, create_graph=True)[0]
    g2 = torch.autograd.grad((g[:, 0] + 3 * g[:, 1]).pow(2).sum(), net.layers[0].weight)[0]
    assert float(g1.abs().max()) > 0
    torch.testing.assert_close(g1, g2, atol=1e-5, rtol=1e-4)


@settings(max_examples=30, deadline=None)
@given(L=st.lists(st.floats(0, 10), min_size=1, max_size=20), eps=st.floats(0, 5))
def test_causal_weights_definition(L, eps):
    w = causal_weights(torch.tensor(L, dtype=torch.float64), eps)
    ref, acc = [], 0.0
    for v in L:
        ref.append(math.exp(-eps * acc)); acc += v
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-9, atol=1e-300)
    assert w[0] == 1.0 and bool((w[1:] <= w[:-1]).all())


@settings(max_examples=20, deadline=None)
@given(period=st.floats(0.1, 10), modes=st.integers(1, 5), shift=st.integers(-3, 3))
def test_fourier_features_periodic(period, modes, shift):
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    torch.testing.assert_close(fourier_features(x, period, modes), fourier_features(x + shift * period, period, modes), atol=1e-9, rtol=0)


def test_hard_constraints_exact_and_checkpoint(tmp_path):
    u0 = lambda x: torch.cos(2 * x)
    net = PINN(B2, periodic=(1,), modes=3, fourier_scale=3.0, initial=u0, seed=4)
    z = torch.rand(40, 2) * torch.tensor([1.0, 2 * math.pi])
    torch.testing.assert_close(net(z), net(z + torch.tensor([0.0, 4 * math.pi])), atol=2e-5, rtol=0)
    z[:, 0] = 0
    torch.testing.assert_close(net(z)[:, 0], u0(z[:, 1]), atol=1e-6, rtol=0)
    net.save(tmp_path / "m.pt")
    back = PINN.load(tmp_path / "m.pt", initial=u0)
    torch.testing.assert_close(back(z), net(z), atol=0, rtol=0)
    with pytest.raises(BadInputError, match="pass initial"): PINN.load(tmp_path / "m.pt")
    torch.save({"format": "other"}, tmp_path / "x.pt")
    with pytest.raises(BadInputError, match="not a dynbook.pinn checkpoint"): PINN.load(tmp_path / "x.pt")
    ck = torch.load(tmp_path / "m.pt", weights_only=True); ck["version"] = 99; torch.save(ck, tmp_path / "v.pt")
    with pytest.raises(BadInputError, match="version-99"): PINN.load(tmp_path / "v.pt", initial=u0)


def test_same_seed_same_network():
    z = torch.rand(10, 2)
    torch.testing.assert_close(PINN(B2, seed=7)(z), PINN(B2, seed=7)(z), atol=0, rtol=0)
    assert not torch.equal(PINN(B2, seed=7)(z), PINN(B2, seed=8)(z))


def test_collocation_grids():
    g = Collocation(B2, 5, 7)()
    assert g.shape == (5, 7, 2)
    torch.testing.assert_close(g[:, 0, 0], torch.linspace(0, 1, 5))
    ode = Collocation([(0.0, 2.0)], 4, 3)()
    assert ode.shape == (4, 3, 1) and bool((ode[1:, :, 0].min(1).values >= ode[:-1, :, 0].max(1).values).all())
    c = Collocation(B2, 8, 10, random=True, seed=3)
    a, b = c(5), c(6)
    assert not torch.equal(a, b) and torch.equal(a, c(5))
    i = torch.arange(8)[:, None]
    assert bool(((a[..., 0] >= i / 8) & (a[..., 0] <= (i + 1) / 8)).all())
    assert bool(((a[..., 1] >= 0) & (a[..., 1] <= 2 * math.pi)).all())


@pytest.mark.parametrize("causal", [None, [0.01, 0.1, 1.0]])
def test_train_decay_ode(causal):
    "u' = −u, u(0) = 1 (hard) on [0, 2]: the exact solution exp(−t)."
    net = PINN([(0.0, 2.0)], width=16, depth=2, initial=lambda s: torch.ones(*s.shape[:-1], 1), seed=0)
    def res(model, z):
        u, J = derivatives(model, z)
        return J[:, 0, 0] + u[:, 0]
    r = train_pinn(net, res, Collocation([(0.0, 2.0)], 8, 8, random=True, seed=0), causal=causal, steps=400, lr=1e-2)
    t = torch.linspace(0, 2, 50)[:, None]
    assert r.error(t, torch.exp(-t)) < 5e-2
    assert isinstance(r, PINNResult) and "steps" in repr(r)
    if causal:
        assert r.converged and list(r.converged_at) == causal
        assert r.converged_at[0.01] <= r.converged_at[0.1] <= r.converged_at[1.0]
        assert float(r.log.components["min_w"].max()) > 0.99 and float(r.log.components["min_w"][-1]) > 0.9
        assert r.citation == ("raissi2019", "wang2024causal")
    import matplotlib; matplotlib.use("Agg")
    r.plot()


def test_soft_initial_condition_is_fitted():
    net = PINN(B2, periodic=(1,), width=16, depth=2, seed=0)
    x = torch.linspace(0, 2 * math.pi, 32)[:, None]
    ic = (torch.cat([torch.zeros_like(x), x], 1), torch.sin(x))
    def res(model, z):                         # u_t = 0: the solution is sin x for all t
        u, J = derivatives(model, z)
        return J[:, 0, 0]
    r = train_pinn(net, res, Collocation(B2, 4, 16), initial=ic, weights=dict(ic=10.0), steps=300, lr=1e-2)
    assert float(r.log.components["ic"][-1]) < 1e-3


def test_error_is_forecast_relative_l2():
    "PINNResult.error is dynbook.forecast.relative_l2 of the prediction, accepting (P,) or (P, 1) truths."
    from dynbook.forecast import relative_l2
    net = PINN(B2, width=8, depth=1, seed=0)
    r = PINNResult(net, None, (), 0.99, {}, torch.zeros(1), torch.zeros(1))
    z = torch.rand(30, 2); true = torch.sin(z[:, 1]).double()
    with torch.no_grad(): p = net(z).double()[:, 0]
    e = float(torch.linalg.vector_norm(p - true) / torch.linalg.vector_norm(true))
    assert r.error(z, true) == pytest.approx(e, rel=1e-9) and r.error(z, true[:, None]) == pytest.approx(e, rel=1e-9)
    assert r.error(z, true) == pytest.approx(float(relative_l2(p, true)), rel=1e-12)
    with pytest.raises(BadInputError, match="must hold"): r.error(z, true[:5])
    with pytest.raises(BadInputError, match="identically zero"): r.error(z, torch.zeros(30))


def test_stop_when_converged():
    "Training ends at the step where min w > δ first holds at the last ε; the full budget otherwise."
    def res(model, z):
        u, J = derivatives(model, z)
        return J[:, 0, 0] + u[:, 0]
    def run(stop):
        net = PINN([(0.0, 2.0)], width=16, depth=2, initial=lambda s: torch.ones(*s.shape[:-1], 1), seed=0)
        return train_pinn(net, res, Collocation([(0.0, 2.0)], 8, 8, random=True, seed=0), causal=[0.01, 0.1, 1.0],
                          steps=600, lr=1e-2, stop_when_converged=stop)
    r = run(True)
    assert r.converged and len(r.log) == r.converged_at[1.0] + 1 < 600
    assert float(r.log.components["min_w"][-1]) > 0.99 and float(r.log.components["eps"][-1]) == 1.0
    before = r.log.components["min_w"][:-1][r.log.components["eps"][:-1] == 1.0]
    assert before.numel() == 0 or float(before.max()) <= 0.99                # it did stop at the first such step
    full = run(False)
    assert len(full.log) == 600 and full.converged_at == r.converged_at    # identical trajectory up to the stop


def _res(model, z):
    u, J = derivatives(model, z)
    return J[:, 0, 0] + J[:, 0, 1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(collocation=torch.full((2, 3, 2), float("nan"))), "NaN"),
    (dict(collocation=torch.rand(6, 2)), r"\(chunks M, points per chunk N, d\)"),
    (dict(collocation=torch.rand(2, 0, 2)), r"\(chunks M, points per chunk N, d\)"),
    (dict(collocation=Collocation(B2, 3, 4)().flip(0)), "follow each other in time"),
    (dict(collocation=torch.rand(3, 4, 3)), "the model takes 2"),
    (dict(collocation=Collocation([(0.0, 1.0)], 3, 4)), "the model takes 2"),
    (dict(causal=-1.0), "increasing sequence"),
    (dict(causal=[1.0, 1.0]), "increasing sequence"),
    (dict(causal="strong"), "increasing sequence"),
    (dict(delta=1.5), "delta must be in"),
    (dict(weights=dict(pde=2.0)), "weights takes the keys"),
    (dict(initial=(torch.zeros(4, 2), torch.zeros(5, 1))), r"values must be \(4, 1\)"),
    (dict(initial=(torch.zeros(4, 3), torch.zeros(4, 1))), "the model takes 2"),
    (dict(initial=torch.zeros(4, 2)), "must be a pair"),
    (dict(boundary=(torch.zeros(4, 2), torch.full((4, 1), float("inf")))), "NaN or inf"),
    (dict(residual=lambda m, z: m(z)[:2]), "one row per point"),
    (dict(residual="u_t"), "residual must be a callable"),
    (dict(model=lambda z: z), "torch.nn.Module"),
    (dict(steps=0), "steps must be an integer"),
    (dict(stop_when_converged=True), "needs causal training"),
])
def test_train_pinn_bad_input(kwargs, match):
    args = dict(model=PINN(B2, width=4, depth=1), residual=_res, collocation=Collocation(B2, 3, 4), steps=1)
    args.update(kwargs)
    with pytest.raises(BadInputError, match=match):
        train_pinn(**args)


@pytest.mark.parametrize("call, match", [
    (lambda: causal_weights([0.1, float("nan")], 1.0), "NaN"),
    (lambda: causal_weights([[0.1, 0.2]], 1.0), "1-D sequence"),
    (lambda: causal_weights([], 1.0), "1-D sequence"),
    (lambda: causal_weights([0.1, -0.2], 1.0), ">= 0"),
    (lambda: causal_weights([0.1], float("inf")), "eps must be"),
    (lambda: causal_weights([0.1], "big"), "eps must be"),
    (lambda: PINN([(0.0, 1.0), (1.0, 1.0)]), "lo < hi"),
    (lambda: PINN([(0.0, 1.0, 2.0)]), r"\(lo, hi\)"),
    (lambda: PINN(B2, periodic=(2,)), "spatial axes"),
    (lambda: PINN(B2, activation="relu6"), "activation"),
    (lambda: PINN(B2, fourier_scale=-1.0), "fourier_scale"),
    (lambda: PINN(B2, width=0), "width must be"),
    (lambda: PINN(B2, initial=3.0), "initial must be a callable"),
    (lambda: derivatives(lambda p: p, torch.zeros(0, 2)), r"points \(P, d\)"),
    (lambda: derivatives(lambda p: p, torch.zeros(3, 2), order=3), "order must be 1 or 2"),
    (lambda: fourier_features(torch.zeros(3), period=-1.0), "period must be"),
    (lambda: fourier_features(torch.zeros(3), modes=0), "modes must be"),
    (lambda: Collocation([(1.0, 0.0)], 4), "lo < hi"),
    (lambda: Collocation(B2, 0), "n_t must be"),
    (lambda: PINNResult(PINN(B2), None, (), 0.99, {}, torch.zeros(1), torch.zeros(1)).predict(torch.zeros(3, 3)), "the model takes 2"),
])
def test_bad_input(call, match):
    with pytest.raises(BadInputError, match=match):
        call()
