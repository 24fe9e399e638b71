"simulate: solvers, shapes, batching, blow-ups and bad input."
import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

import dynbook
from dynbook.core import BadInputError, IntegrationError, DynbookError
from dynbook.simulate import simulate, Trajectory, RK4, Euler, Dopri5, Rosenbrock, ETDRK4, MapIteration, solvers
from dynbook.systems import System, get, names


def test_public_api():
    assert dynbook.simulate is simulate
    tr = dynbook.simulate(dynbook.systems.get("lorenz63"), 10)
    assert isinstance(tr, Trajectory) and tr.t.shape == (11,) and tr.x.shape == (11, 3)


def test_shapes_transient_save_every():
    tr = simulate("lorenz63", 100, transient=30, save_every=10)
    assert tr.x.shape == (11, 3)
    np.testing.assert_allclose(tr.t.numpy(), (30 + 10 * np.arange(11)) * 0.01)
    full = simulate("lorenz63", 130)
    torch.testing.assert_close(tr.x, full.x[30::10], rtol=1e-13, atol=1e-13)


def test_batch_from_x0_and_params_broadcast():
    x0 = torch.randn(4, 1, 3, dtype=torch.float64)
    rho = torch.tensor([20.0, 28.0, 35.0], dtype=torch.float64)
    tr = simulate("lorenz63", 20, x0=x0, params={"rho": rho})
    assert tr.x.shape == (4, 3, 21, 3)
    one = simulate("lorenz63", 20, x0=x0[2, 0], params={"rho": 35.0})
    torch.testing.assert_close(tr.x[2, 2], one.x, rtol=0, atol=0)


@settings(max_examples=25, deadline=None)
@given(a=st.floats(-3, 1), h=st.floats(0.01, 0.3), n=st.integers(1, 40), x0=st.floats(-5, 5))
def test_rk4_linear_is_its_stability_polynomial(a, h, n, x0):
    "On x' = a x, RK4 multiplies by R(z) = 1 + z + z^2/2 + z^3/6 + z^4/24 per step (exact identity)."
    x = sp.Symbol("x", real=True); A = sp.Symbol("A", real=True)
    lin = System("lin", "flow", [x], {"A": 1.0}, [A * x], dt=0.1, x0=[1.0])
    z = a * h
    R = 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24
    got = float(simulate(lin, n, dt=h, x0=[x0], params={"A": a}, compile=False).x[-1, 0])
    assert got == pytest.approx(x0 * R**n, rel=1e-12, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(r=st.floats(0.5, 4.0), x0=st.floats(0.01, 0.99), n=st.integers(0, 30))
def test_map_iteration_is_repeated_rule(r, x0, n):
    lg = get("logistic")
    tr = simulate(lg, n, x0=[x0], params={"r": r})
    x = x0
    for _ in range(n): x = r * x * (1 - x)
    assert float(tr.x[-1, 0]) == pytest.approx(x, rel=1e-9, abs=1e-12)


def test_float32_and_dtype_names():
    assert simulate("lorenz63", 5, dtype="float32").x.dtype == torch.float32
    assert simulate("lorenz63", 5, x0=torch.ones(3, dtype=torch.float32)).x.dtype == torch.float32


def test_dopri5_matches_scipy():
    scipy_integrate = pytest.importorskip("scipy.integrate")
    lz = get("lorenz63")
    ref = scipy_integrate.solve_ivp(lambda t, v: lz.rhs(torch.tensor(v)).numpy(), (0, 5), [1.0, 1.0, 1.0],
                                    method="DOP853", rtol=1e-13, atol=1e-13).y[:, -1]
    ours = simulate(lz, 5, dt=1.0, solver=Dopri5(rtol=1e-10, atol=1e-10)).x[-1].numpy()
    assert np.abs(ours - ref).max() < 1e-7


def test_rosenbrock_preserves_linear_invariant():
    rob = get("robertson")
    tr = simulate(rob, 10, dt=1.0, solver=Rosenbrock("ros3", rtol=1e-6))
    assert float((tr.x.sum(-1) - 1).abs().max()) < 1e-12


def test_pde_mean_conserved():
    tr = simulate("kuramoto_sivashinsky", 400, save_every=20)
    assert float((tr.x.mean(-1) - tr.x[0].mean()).abs().max()) < 1e-12


@pytest.mark.parametrize("name", names())
def test_every_system_runs_1e4_default_steps(name):
    s = get(name)
    solver = Rosenbrock("ros3", rtol=1e-6) if name in ("robertson", "van_der_pol_stiff") else None
    n = 10_000
    if solver is not None:   # adaptive: 10^4 default-dt steps of simulated time, saved every 100
        tr = simulate(s, n, solver=solver, save_every=100)
    else:
        tr = simulate(s, n, save_every=100)
    assert torch.isfinite(tr.x).all(), f"{name} left the finite numbers"


def test_blowup_raises_with_time_and_indices():
    rho = torch.tensor([28.0, 1e9, 28.0, 1e9])
    with pytest.raises(IntegrationError) as e:
        simulate("lorenz63", 400, dt=0.02, params={"rho": rho})
    assert e.value.t is not None and e.value.t > 0
    assert sorted(i[0] for i in e.value.batch_index) == [1, 3]
    assert "batch indices" in str(e.value)


def test_blowup_nan_marking():
    rho = torch.tensor([28.0, 1e9])
    tr = simulate("lorenz63", 400, dt=0.02, params={"rho": rho}, on_blowup="nan")
    assert torch.isfinite(tr.x[0]).all()
    assert tr.info["blown_up"].tolist() == [False, True]
    first = int(torch.isnan(tr.x[1]).any(-1).float().argmax())
    assert torch.isnan(tr.x[1, first:]).all() and torch.isfinite(tr.x[1, :first]).all()


@pytest.mark.parametrize("call,match", [
    (lambda: simulate("lorenzz", 10), "Did you mean"),
    (lambda: simulate("lorenz63", 10, params={"rh": 1.0}), "Did you mean 'rho'"),
    (lambda: simulate("lorenz63", 10, x0=[1.0, 2.0]), r"x0 must have shape \(\.\.\., 3\)"),
    (lambda: simulate("lorenz63", 10, x0=np.ones((5, 4))), r"x0 must have shape"),
    (lambda: simulate("lorenz63", 10, x0=[1.0, math.inf, 0.0]), "x0 contains NaN or inf"),
    (lambda: simulate("lorenz63", 10, x0=[1.0, math.nan, 0.0]), "x0 contains NaN or inf"),
    (lambda: simulate("lorenz63", 10, dt=0.0), "dt must be positive"),
    (lambda: simulate("lorenz63", 10, dt=-0.1), "dt must be positive"),
    (lambda: simulate("lorenz63", 10, dt=math.nan), "dt must be positive"),
    (lambda: simulate("lorenz63", -5), "n_steps must be an integer >= 0"),
    (lambda: simulate("lorenz63", 2.5), "n_steps must be an integer"),
    (lambda: simulate("lorenz63", 10, save_every=0), "save_every must be an integer >= 1"),
    (lambda: simulate("lorenz63", 10, solver="rk5"), "Unknown solver"),
    (lambda: simulate("henon", 10, solver="rk4"), "does not apply to a map"),
    (lambda: simulate("henon", 10, dt=0.5), "is a map"),
    (lambda: simulate("lorenz63", 10, on_blowup="ignore"), "on_blowup"),
    (lambda: simulate("lorenz63", 10, dtype="int8"), "Unknown dtype"),
    (lambda: simulate("lorenz63", 10, params={"rho": [1.0, 2.0]}, x0=np.ones((3, 3))), "do not broadcast"),
    (lambda: simulate(42, 10), "System or a catalog name"),
    (lambda: Dopri5(rtol=-1), "rtol and atol must be positive"),
    (lambda: Rosenbrock("ros9"), "Unknown Rosenbrock method"),
])
def test_bad_input_is_a_clear_dynbook_error(call, match):
    with pytest.raises(BadInputError, match=match):
        call()


def test_adaptive_nonconvergence_is_reported():
    with pytest.raises(DynbookError, match="max_steps"):
        simulate("van_der_pol_stiff", 5, dt=1.0, solver=Dopri5(rtol=1e-8, max_steps=200))


def test_trajectory_plot_runs():
    import matplotlib
    matplotlib.use("Agg")
    for name in ["lorenz63", "henon", "kuramoto_sivashinsky", "logistic"]:
        ax = simulate(name, 50).plot()
        assert ax is not None


# ---------------------------------------------------------------- SDEs
def test_sdeint_seed_stream_and_save_every():
    "the increments drawn from `seed` are √h·ξ step by step: passing the same draws as dW gives the same path; save_every subsamples it"
    from dynbook.simulate import sdeint
    f, g = (lambda t, x: -x + torch.sin(x)), (lambda t, x: 0.5 + 0.1 * x ** 2)
    y0 = torch.randn(5, 3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(7)
    dW = torch.stack([torch.randn(5, 3, generator=gen, dtype=torch.float64) for _ in range(12)], 1) * math.sqrt(0.05)
    for method in ("euler", "milstein", "reversible_heun"):
        a = sdeint(f, g, y0, 0.05, 12, method, seed=7)
        torch.testing.assert_close(a, sdeint(f, g, y0, 0.05, 12, method, dW=dW), rtol=0, atol=0)
        torch.testing.assert_close(sdeint(f, g, y0, 0.05, 12, method, seed=7, save_every=4), a[:, ::4], rtol=0, atol=0)
    with pytest.raises(BadInputError, match="save_every"): sdeint(f, g, y0, 0.05, 12, save_every=0)
    with pytest.raises(IntegrationError, match="finite"): sdeint(lambda t, x: x ** 3, g, y0 + 10, 1.0, 40)
