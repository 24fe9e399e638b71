"bifurcations: fixed points and stability, orbit diagrams, continuation with bifurcation detection, Kuramoto order parameter."
import math

import numpy as np
import pytest
import sympy as sp
import torch

from dynbook.core import BadInputError, NonConvergenceError
from dynbook.bifurcations import (fixed_points, orbit_diagram, continuation, kuramoto_order_parameter, kuramoto_sweep,
                                  lorentzian_frequencies, stability_label, FixedPoints, OrbitDiagram, Branch)
from dynbook.simulate import simulate
from dynbook.systems import System, get

F64 = torch.float64
x_, mu_ = sp.Symbol("x", real=True), sp.Symbol("mu", real=True)


def cubic():
    return System("cubic", "flow", [x_], {"mu": 0.0}, [mu_ + x_ - x_**3], dt=0.01, x0=[0.0])


def lorenz_cpm(rho, beta=8/3):
    c = math.sqrt(beta * (rho - 1))
    return torch.tensor([[-c, -c, rho - 1], [0.0, 0.0, 0.0], [c, c, rho - 1]], dtype=F64)


# -- fixed points ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["sympy", "newton"])
def test_lorenz_fixed_points_rho28_all_unstable(method):
    fp = fixed_points("lorenz63", method=method, radius=40)
    assert isinstance(fp, FixedPoints) and len(fp) == 3 and fp.method == method
    torch.testing.assert_close(fp.points, lorenz_cpm(28.0), rtol=0, atol=1e-10)
    assert not fp.stable.any()
    assert fp.stability == ["saddle"] * 3
    # C± are saddle-foci: one negative real eigenvalue, a complex pair with positive real part
    ev = fp.eigenvalues[2]
    assert (ev.imag.abs() > 1).sum() == 2 and (ev.real[ev.imag.abs() > 1] > 0).all()
    assert "saddle" in repr(fp) and "eigenvalues" in repr(fp)


@pytest.mark.parametrize("method", ["sympy", "newton"])
def test_lorenz_fixed_points_rho10_c_pm_stable(method):
    fp = fixed_points("lorenz63", {"rho": 10.0}, method=method, radius=40)
    torch.testing.assert_close(fp.points, lorenz_cpm(10.0), rtol=0, atol=1e-10)
    assert fp.stability == ["stable", "saddle", "stable"]
    # the characteristic polynomial of C±: l^3 + (s+b+1) l^2 + b(s+r) l + 2 s b (r-1)
    s, b, r = 10.0, 8/3, 10.0
    ref = np.sort_complex(np.roots([1, s + b + 1, b * (s + r), 2 * s * b * (r - 1)]))
    np.testing.assert_allclose(np.sort_complex(fp.eigenvalues[0].numpy()), ref, atol=1e-10)


@pytest.mark.parametrize("r", [0.5, 2.8, 3.3, 3.9])
def test_logistic_fixed_points_and_multipliers(r):
    fp = fixed_points("logistic", {"r": r})
    np.testing.assert_allclose(fp.points[:, 0].numpy(), sorted([0.0, 1 - 1 / r]), atol=1e-14)
    mult = {0.0: r, 1 - 1 / r: 2 - r}
    for x, m in zip(fp.points[:, 0].tolist(), fp.eigenvalues[:, 0].tolist()):
        assert abs(m - mult[min(mult, key=lambda k: abs(k - x))]) < 1e-12
    fpn = fixed_points("logistic", {"r": r}, method="newton", radius=2)
    torch.testing.assert_close(fpn.points, fp.points, rtol=0, atol=1e-12)


def test_logistic_period_two():
    r = 3.3
    fp = fixed_points("logistic", {"r": r}, period=2)
    assert fp.minimal_period == [1, 2, 1, 2]
    two = fp.points[torch.tensor(fp.minimal_period) == 2, 0]
    d = math.sqrt((r - 3) * (r + 1))
    np.testing.assert_allclose(two.numpy(), [(r + 1 - d) / (2 * r), (r + 1 + d) / (2 * r)], atol=1e-14)
    mult = fp.eigenvalues[torch.tensor(fp.minimal_period) == 2, 0].real
    np.testing.assert_allclose(mult.numpy(), [-r**2 + 2 * r + 4] * 2, atol=1e-12)
    assert fp.stability[1] == "stable"


def test_fixed_points_from_given_starts_and_custom_system():
    fp = fixed_points(cubic(), {"mu": 0.0}, method="newton", x0=[[-2.0], [0.1], [2.0]])
    np.testing.assert_allclose(fp.points[:, 0].numpy(), [-1.0, 0.0, 1.0], atol=1e-14)
    assert fp.stability == ["stable", "unstable", "stable"]


def test_stability_labels():
    assert stability_label([-1.0, -2.0], "flow") == "stable"
    assert stability_label([1.0, 2.0], "flow") == "unstable"
    assert stability_label([-1.0, 2.0], "flow") == "saddle"
    assert stability_label(torch.tensor([1j, -1j]), "flow") == "non-hyperbolic"
    assert stability_label([0.5, -0.9], "map") == "stable"
    assert stability_label([-1.0, 0.2], "map") == "non-hyperbolic"


# -- orbit diagram -----------------------------------------------------------------------------
def test_orbit_diagram_shapes_and_values():
    rs = torch.linspace(2.5, 4.0, 64, dtype=F64)
    od = orbit_diagram("logistic", "r", rs, n_steps=50, transient=2000)
    assert isinstance(od, OrbitDiagram) and od.points.shape == (64, 50) and od.values.shape == (64,)
    np.testing.assert_allclose(od.points[0].numpy(), 1 - 1 / 2.5, atol=1e-12)   # stable fixed point at r = 2.5
    assert (od.points >= 0).all() and (od.points <= 1).all()
    assert "64 values" in repr(od)
    od2 = orbit_diagram("henon", "a", [0.2, 1.0, 1.4], n_steps=30, transient=500, component=1, params={"b": 0.3})
    assert od2.points.shape == (3, 30)
    # a = 0.2: the stable fixed point, y = b x with x the '+' root
    a, b = 0.2, 0.3
    xp = (-(1 - b) + math.sqrt((1 - b)**2 + 4 * a)) / (2 * a)
    np.testing.assert_allclose(od2.points[0].numpy(), b * xp, atol=1e-10)


def test_orbit_diagram_flow_local_maxima():
    od = orbit_diagram("rossler", "c", [2.5, 3.5, 4.0], n_steps=4000, transient=4000, dt=0.05)
    assert od.points.shape == (3, 3998)
    # c = 2.5: a period-1 limit cycle, one distinct maximum of x
    m = od.points[0][torch.isfinite(od.points[0])]
    assert len(m) >= 5 and float(m.max() - m.min()) < 5e-4
    # c = 3.5 and 4: periods 2 and 4 of the period-doubling cascade: 2 and 4 distinct maxima
    for i, n in ((1, 2), (2, 4)):
        m = od.points[i][torch.isfinite(od.points[i])]
        assert len(set(np.round(m.numpy(), 1).tolist())) == n


# -- continuation and bifurcations ---------------------------------------------------------------
def test_cubic_folds():
    br = continuation(cubic(), "mu", [-1.3], start=-1.0, stop=1.0, ds=0.02)
    assert isinstance(br, Branch) and [b.kind for b in br.bifurcations] == ["fold", "fold"]
    mu_f = 2 / (3 * math.sqrt(3))
    assert abs(br.folds[0].param - mu_f) < 1e-10 and abs(br.folds[1].param + mu_f) < 1e-10
    assert br.states.shape == (len(br.params), 1) and len(br.stability) == len(br.params)
    # the branch lies on mu = x^3 - x
    np.testing.assert_allclose(br.params.numpy(), (br.states[:, 0]**3 - br.states[:, 0]).numpy(), atol=1e-11)


def test_logistic_flips():
    br = continuation("logistic", "r", [0.6], start=2.5, stop=3.6)
    assert [b.kind for b in br.bifurcations] == ["flip"]
    assert abs(br.bifurcations[0].param - 3.0) < 1e-10
    d = math.sqrt((3.2 - 3) * 4.2)
    br2 = continuation("logistic", "r", [(4.2 + d) / 6.4], start=3.2, stop=3.6, period=2)
    assert [b.kind for b in br2.bifurcations] == ["flip"]
    assert abs(br2.bifurcations[0].param - (1 + math.sqrt(6))) < 1e-10


def test_delayed_logistic_neimark_sacker():
    br = continuation("delayed_logistic", "a", [1 / 3, 1 / 3], start=1.5, stop=2.5)
    assert [b.kind for b in br.bifurcations] == ["neimark_sacker"]
    ns = br.bifurcations[0]
    assert abs(ns.param - 2.0) < 1e-10
    np.testing.assert_allclose(ns.eigenvalues.abs().numpy(), [1.0, 1.0], atol=1e-10)
    np.testing.assert_allclose(sorted(ns.eigenvalues.angle().abs().tolist()), [math.pi / 3] * 2, atol=1e-10)


def test_henon_fold_and_flip():
    b = 0.3
    fp = fixed_points("henon", {"a": 1.0, "b": b})
    br = continuation("henon", "a", fp.points[1], start=1.0, stop=-0.5, params={"b": b}, max_steps=200)
    assert [k.kind for k in br.bifurcations] == ["flip", "fold"]
    assert abs(br.of_kind("flip")[0].param - 3 * (1 - b)**2 / 4) < 1e-10
    assert abs(br.folds[0].param + (1 - b)**2 / 4) < 1e-10


def test_lorenz_hopf_and_pitchfork():
    c = math.sqrt(8 / 3 * 9)
    br = continuation("lorenz63", "rho", [c, c, 9.0], start=10.0, stop=30.0, ds=0.5)
    assert [k.kind for k in br.bifurcations] == ["hopf"]
    assert abs(br.bifurcations[0].param - 470 / 19) < 1e-10
    assert br.stability[0] == "stable" and br.stability[-1] == "saddle"
    br0 = continuation("lorenz63", "rho", [0.0, 0.0, 0.0], start=0.5, stop=2.0, ds=0.05)
    assert [k.kind for k in br0.bifurcations] == ["branch_point"]
    assert abs(br0.bifurcations[0].param - 1.0) < 1e-10


def test_continuation_backwards_and_plot():
    import matplotlib
    matplotlib.use("Agg")
    br = continuation(cubic(), "mu", [1.3], start=1.0, stop=-1.0)
    assert len(br.folds) == 2 and br.params[0] == 1.0
    assert br.plot() is not None


# -- Kuramoto ----------------------------------------------------------------------------------
def test_order_parameter():
    assert abs(float(kuramoto_order_parameter(torch.full((9,), 0.7, dtype=F64))) - 1) < 1e-15
    assert float(kuramoto_order_parameter(2 * math.pi * torch.arange(5, dtype=F64) / 5)) < 1e-15
    th = torch.rand(4, 3, 20, dtype=F64)
    r, psi = kuramoto_order_parameter(th, return_phase=True)
    z = torch.exp(1j * th).mean(-1)
    torch.testing.assert_close(r, z.abs()); torch.testing.assert_close(psi, z.angle())


def test_lorentzian_quantiles():
    w = lorentzian_frequencies(1000, 0.5)
    # the median of |w| of a Lorentzian of half-width gamma is gamma
    assert abs(float(w.abs().median()) - 0.5) < 2e-3 and abs(float(w.sum())) < 1e-9


def test_kuramoto_sweep_matches_catalog_and_theory():
    kur = get("kuramoto", n=20)
    w = torch.tensor([kur.params[f"w{i}"] for i in range(20)], dtype=F64)
    sw = kuramoto_sweep(w, [2.5, 0.0], t_transient=2.0, t_average=0.5, dt=0.01, theta0=kur.x0)
    tr = simulate(kur, 50, dt=0.01, params={"K": 2.5}, x0=kur.x0, transient=200)    # the same run, one K
    torch.testing.assert_close(sw.info["theta"][0], tr.x[-1], rtol=0, atol=1e-10)
    torch.testing.assert_close(sw.info["theta"][1], kur.x0 + 2.5 * w, rtol=0, atol=1e-9)   # K = 0: free rotation
    Ks = torch.tensor([2.0, 4.0], dtype=F64)
    sw = kuramoto_sweep(lorentzian_frequencies(200, 0.5), Ks, t_transient=40.0, t_average=20.0, dt=0.05)
    np.testing.assert_allclose(sw.r.numpy(), np.sqrt(1 - 1.0 / Ks.numpy()), atol=0.05)


# -- bad input ---------------------------------------------------------------------------------
def test_bad_input():
    with pytest.raises(BadInputError, match="no parameter 'R'"): fixed_points("logistic", {"R": 3.0})
    with pytest.raises(BadInputError, match="no parameter 'x'"): orbit_diagram("logistic", "x", [3.0])
    with pytest.raises(BadInputError, match="no parameter 'nu'"): continuation(cubic(), "nu", [0.0], start=0.0, stop=1.0)
    with pytest.raises(BadInputError, match="values is empty"): orbit_diagram("logistic", "r", [])
    with pytest.raises(BadInputError, match="values is empty"): orbit_diagram("logistic", "r", torch.zeros(0))
    for f in (lambda: fixed_points("burgers"), lambda: orbit_diagram("kdv", "L", [1.0]),
              lambda: continuation("kuramoto_sivashinsky", "L", torch.zeros(128), stop=1.0)):
        with pytest.raises(BadInputError, match="PDE"): f()
    with pytest.raises(BadInputError, match="needs a map"): fixed_points("lorenz63", period=3)
    with pytest.raises(BadInputError, match="period must be"): fixed_points("logistic", period=0)
    with pytest.raises(BadInputError, match="one parameter point"): fixed_points("logistic", {"r": [3.0, 3.5]})
    with pytest.raises(BadInputError, match="method"): fixed_points("logistic", method="magic")
    with pytest.raises(BadInputError, match="x0 must have shape"): continuation("henon", "a", [0.0], stop=1.0)
    with pytest.raises(BadInputError, match="give stop"): continuation("logistic", "r", [0.5])
    with pytest.raises(BadInputError, match="component"): orbit_diagram("henon", "a", [1.0], component=2)
    with pytest.raises(BadInputError, match="non-empty"): kuramoto_order_parameter(torch.zeros(0))
    with pytest.raises(BadInputError, match="gamma"): lorentzian_frequencies(10, -1.0)
    no_eq = System("no_eq", "flow", [x_], {"mu": 1.0}, [mu_ + x_**2], dt=0.01, x0=[0.0])
    with pytest.raises(NonConvergenceError, match="did not converge"): continuation(no_eq, "mu", [0.5], stop=2.0)
