"bifurcations: fixed points and stability, orbit diagrams, continuation with bifurcation detection, Kuramoto order parameter, map networks and synchrony."
import math

import numpy as np
import pytest
import sympy as sp
import torch

from dynbook.core import BadInputError, NonConvergenceError
from dynbook.bifurcations import (fixed_points, orbit_diagram, continuation, kuramoto_order_parameter, kuramoto_sweep,
                                  lorentzian_frequencies, stability_label, FixedPoints, OrbitDiagram, Branch,
                                  Topology, network_topology, map_network, unit_series, cross_correlation, analytic_signal,
                                  unit_phases, synchrony, synchrony_sweep, find_attractors)
from hypothesis import given, settings, strategies as st
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


# -- map networks and synchrony ----------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(["chain", "ring", "ring_star"]), n=st.integers(4, 12))
def test_topology_properties(name, n):
    top = network_topology(name, n)
    M, H = top.matrices()
    for A in list(M.values()) + [H]:
        assert torch.equal(A, A.T) and float(A.sum(-1).abs().max()) == 0.0       # symmetric, diffusive
    n_edges = sum(len(e) for e in top.edges.values())
    assert n_edges == {"chain": n - 1, "ring": n, "ring_star": 2 * (n - 1)}[name]
    assert len(top.triangles) == {"chain": 0, "ring": 0, "ring_star": n - 1 + (n == 4)}[name]
    for tri in top.triangles:   # every triangle is a 3-clique of the graph
        es = {frozenset(e) for g in top.edges.values() for e in g}
        assert all(frozenset(p) in es for p in [(tri[0], tri[1]), (tri[0], tri[2]), (tri[1], tri[2])])


def _networks():
    return [map_network(["chialvo", "rulkov", "chialvo"], "chain", eps=0.1),
            map_network("rulkov", "ring", n=5, eps=0.05),
            map_network("chialvo", "ring_star", n=4, eps=0.01, eps_star=0.02, eps2=0.01),
            map_network(["rulkov", "chialvo", "chialvo", "chialvo", "chialvo", "rulkov"], "ring_star", eps2=0.03)]


@pytest.mark.parametrize("i", range(4))
def test_network_rule_equals_sympy_and_jacobian_equals_autograd(i):
    net = _networks()[i]
    g = torch.Generator().manual_seed(i)
    X = 0.5 + torch.rand(3, 4, net.dim, generator=g, dtype=F64)
    P = net.param_tensor() * (1 + 0.2 * torch.rand(3, 1, len(net.params), generator=g, dtype=F64))
    torch.testing.assert_close(net.rule(X, P), net.generated_rule(X, P), rtol=0, atol=1e-13)
    J = net.jacobian_rule(X, P)
    Ja = torch.func.vmap(torch.func.vmap(torch.func.jacrev(net.rule)))(X, P.expand(3, 4, -1))
    torch.testing.assert_close(J, Ja, rtol=0, atol=1e-12)


def test_network_coupling_by_hand():
    "The chain's update written out by hand in numpy."
    net = map_network(["chialvo", "rulkov", "chialvo"], "chain", eps=0.1)
    x = np.array([0.7, 1.1, -0.9, -3.4, 1.3, 0.8])
    a, b, c, k, al, mu, sg, e = 0.89, 0.18, 0.28, 0.03, 4.5, 0.001, -1.0, 0.1
    x1, y1, x2, y2, x3, y3 = x
    want = [x1**2*np.exp(y1 - x1) + k + e*(x2 - x1), a*y1 - b*x1 + c,
            al/(1 + x2**2) + y2 + e*(x1 - x2) + e*(x3 - x2), y2 - mu*(x2 - sg),
            x3**2*np.exp(y3 - x3) + k + e*(x2 - x3), a*y3 - b*x3 + c]
    np.testing.assert_allclose(net.rhs(torch.tensor(x)).numpy(), want, rtol=0, atol=1e-14)
    rs = map_network("chialvo", "ring_star", n=5, eps=0.0, eps_star=0.0, eps2=0.2)
    X = torch.tensor([0.3, 0.0, 0.5, 0.0, 0.9, 0.0, 1.4, 0.0, 2.0, 0.0], dtype=F64)
    u = get("chialvo").rhs(X.reshape(5, 2))[:, 0]
    xs = X[0::2].tolist()
    tris = [(0, 1, 2), (0, 2, 3), (0, 3, 4), (0, 1, 4)]
    for i in range(5):
        h = sum(xs[j] + xs[l] - 2 * xs[i] for t in tris if i in t for j, l in [[v for v in t if v != i]])
        assert abs(float(rs.rhs(X)[2 * i]) - (float(u[i]) + 0.2 * h)) < 1e-14


def test_network_batched_equals_looped():
    net = map_network("chialvo", "ring_star", n=5, eps=0.01, eps2=0.01)
    eps = torch.tensor([0.0, 0.02, 0.05, 0.1], dtype=F64)
    x0 = net.x0 + 0.3 * torch.rand(4, net.dim, generator=torch.Generator().manual_seed(0), dtype=F64)
    tr = simulate(net, 300, x0=x0, params={"eps_star": eps, "k": 0.03}, compile=False)
    for i in range(4):
        one = simulate(net, 300, x0=x0[i], params={"eps_star": float(eps[i]), "k": 0.03}, compile=False)
        torch.testing.assert_close(tr.x[i], one.x, rtol=0, atol=1e-12)


def test_synchronous_orbit_is_invariant_and_measures_are_one():
    net = map_network("chialvo", "ring", n=6, eps=0.2)
    u0 = torch.tensor([0.5, 0.9], dtype=F64)
    tr = simulate(net, 1000, x0=u0.repeat(6), transient=100)
    single = simulate("chialvo", 1000, x0=u0, transient=100)
    torch.testing.assert_close(unit_series(tr), single.x[:, :1].expand(-1, 6), rtol=0, atol=1e-12)
    s = synchrony(tr)
    assert abs(float(s.cross_correlation) - 1) < 1e-12 and abs(float(s.order_parameter) - 1) < 1e-12
    assert abs(float(synchrony(tr, phase="geometric", reference=2).order_parameter) - 1) < 1e-12


def test_cross_correlation_against_numpy():
    x = torch.randn(2, 500, 5, generator=torch.Generator().manual_seed(1), dtype=F64)
    x[..., 1] += 0.8 * x[..., 0]
    for b in range(2):
        C = np.corrcoef(x[b].numpy().T)
        iu = np.triu_indices(5, 1)
        assert abs(float(cross_correlation(x)[b]) - C[iu].mean()) < 1e-12
        assert abs(float(cross_correlation(x, reference=1)[b]) - np.delete(C[1], 1).mean()) < 1e-12


@pytest.mark.parametrize("T", [64, 99])
def test_analytic_signal_against_scipy(T):
    from scipy.signal import hilbert
    x = torch.randn(3, T, 4, generator=torch.Generator().manual_seed(T), dtype=F64)
    torch.testing.assert_close(analytic_signal(x), torch.from_numpy(hilbert(x.numpy(), axis=-2)), rtol=0, atol=1e-12)


def test_order_parameter_of_independent_phases_scales_as_one_over_sqrt_n():
    g = torch.Generator().manual_seed(2)
    for N in (8, 32, 128, 512):
        r = kuramoto_order_parameter(2 * math.pi * torch.rand(4000, N, generator=g, dtype=F64))
        assert abs(float((N * r**2).mean()) - 1) < 0.06                      # E[N r^2] = 1 exactly
        assert abs(math.sqrt(N) * float(r.mean()) - math.sqrt(math.pi) / 2) < 0.06 + 0.3 / N   # Rayleigh mean for large N


def test_uniformized_phases_are_uniform_and_monotone():
    x = torch.randn(400, 3, generator=torch.Generator().manual_seed(3), dtype=F64).cumsum(0)
    th, tu = unit_phases(x), unit_phases(x, uniformize=True)
    for j in range(3):
        o = th[:, j].argsort()
        assert bool((tu[o, j].diff() > 0).all())                           # order preserved
    torch.testing.assert_close(tu.sort(0).values[:, 0], 2 * math.pi * (torch.arange(400, dtype=F64) + 0.5) / 400 - math.pi)


def test_unit_fixed_points_closed_form():
    from scipy.optimize import brentq
    for k in (0.03, 0.08):
        a, b, c = 0.89, 0.18, 0.28
        h = lambda x: x**2 * math.exp((c - b*x)/(1 - a) - x) + k - x
        grid = np.linspace(-2, 10, 2001)
        roots = [brentq(h, l, r, xtol=1e-15) for l, r in zip(grid[:-1], grid[1:]) if h(l) * h(r) < 0]
        fp = fixed_points("chialvo", {"k": k})
        np.testing.assert_allclose(fp.points.numpy(), [[x, (c - b*x)/(1 - a)] for x in roots], rtol=0, atol=1e-10)
    for al, sg in ((4.5, -1.0), (3.9, -0.3)):
        fp = fixed_points("rulkov", {"alpha": al, "sigma": sg})
        np.testing.assert_allclose(fp.points.numpy(), [[sg, sg - al/(1 + sg**2)]], rtol=0, atol=1e-12)
    net = map_network("chialvo", "ring_star", n=5, eps2=0.01)
    u = fixed_points("chialvo").points[0]
    fpn = fixed_points(net, x0=(u + 1e-3).repeat(5).reshape(1, -1))
    torch.testing.assert_close(fpn.points[0], u.repeat(5), rtol=0, atol=1e-10)


def test_find_attractors_on_logistic():
    x0 = torch.linspace(0.05, 0.95, 8, dtype=F64).reshape(-1, 1)
    at = find_attractors("logistic", x0, {"r": 3.2}, transient=500, n_steps=200)
    assert [g["label"] for g in at.groups] == ["period-2"] and at.groups[0]["count"] == 8
    r = 3.2
    assert abs(float(at.orbits[0, -2:, 0].sort().values[1]) - (r + 1 + math.sqrt((r - 3)*(r + 1)))/(2*r)) < 1e-9
    at = find_attractors("logistic", x0[1:4], {"r": 4.0}, transient=100, n_steps=200, lyapunov_steps=4000)
    assert [g["label"] for g in at.groups] == ["chaotic"] and abs(at.groups[0]["lyapunov"] - math.log(2)) < 0.03
    x0 = torch.tensor([[0.1, 0.0], [0.2, 0.05]], dtype=F64)
    assert "Attractors(" in repr(find_attractors("henon", x0, transient=200, n_steps=200, lyapunov_steps=500))


def test_synchrony_sweep_batched_equals_single_runs():
    net = map_network("chialvo", "ring_star", n=4, eps=0.01, eps2=0.0)
    vals = torch.tensor([0.0, 0.15], dtype=F64)
    # short runs: a batch of 6 and one of 3 can round exp differently (vector loop vs scalar tail) and the chaotic
    # units amplify one ulp; 80 iterates keep that far below the tolerance
    sw = synchrony_sweep(net, "eps_star", vals, n_starts=3, n_steps=60, transient=20, params={"k": 0.03}, seed=5)
    x0 = net.x0 + 0.5 * (2 * torch.rand(2, 3, net.dim, generator=torch.Generator().manual_seed(5), dtype=F64) - 1)
    for i in range(2):
        tr = simulate(net, 60, x0=x0[i], params={"eps_star": float(vals[i]), "k": 0.03}, transient=20)
        s = synchrony(tr)
        torch.testing.assert_close(sw.cross_correlation[i], s.cross_correlation, rtol=0, atol=1e-10)
        torch.testing.assert_close(sw.order_parameter[i], s.order_parameter, rtol=0, atol=1e-10)
    long = synchrony_sweep(net, "eps_star", vals, n_starts=3, n_steps=400, transient=200, params={"k": 0.03}, seed=5)
    assert bool((long.cross_correlation[1] > 0.999).all())
    bad = synchrony_sweep(map_network("chialvo", "chain", n=2), "eps", [5.0], n_starts=2, n_steps=400, transient=0)
    assert bool(bad.info["blown_up"].all()) and bool(bad.order_parameter.isnan().all())


def test_network_bad_input():
    with pytest.raises(BadInputError, match="Did you mean 'ring_star'"): network_topology("rign_star", 5)
    with pytest.raises(BadInputError, match=">= 4"): map_network("chialvo", "ring_star", n=3)
    with pytest.raises(BadInputError, match=">= 3"): map_network("chialvo", "ring", n=2)
    with pytest.raises(BadInputError, match=">= 2"): map_network("chialvo", "chain", n=1)
    with pytest.raises(BadInputError, match=">= 2"): map_network("chialvo", "chain", n=-3)
    with pytest.raises(BadInputError, match="give n"): map_network("chialvo", "ring")
    with pytest.raises(BadInputError, match="no triangles"): map_network("chialvo", "ring", n=5, eps2=0.1)
    with pytest.raises(BadInputError, match="eps_star"): map_network("rulkov", "ring", n=5, eps_star=0.1)
    with pytest.raises(BadInputError, match="must be a map"): map_network(["chialvo", "lorenz63"], "chain")
    with pytest.raises(BadInputError, match="Unknown system"): map_network(["chialvo", "chialvoo"], "chain")
    with pytest.raises(BadInputError, match="same dimension"): map_network(["chialvo", "logistic"], "chain")
    with pytest.raises(BadInputError, match="x0 must have shape"): map_network("chialvo", "chain", n=3, x0=[0.0, 0.0])
    with pytest.raises(BadInputError, match="component"): map_network("chialvo", "chain", n=3, component=2)
    with pytest.raises(BadInputError, match="distinct nodes"): map_network("chialvo", Topology("t", 3, {"eps": [(1, 1)]}, ()))
    with pytest.raises(BadInputError, match="constant in time"): cross_correlation(torch.ones(50, 3))
    with pytest.raises(BadInputError, match="NaN"): cross_correlation(torch.full((50, 3), math.nan))
    with pytest.raises(BadInputError, match="reference"): cross_correlation(torch.randn(50, 3), reference=-1)
    with pytest.raises(BadInputError, match="at least 8"): unit_phases(torch.randn(5, 3))
    with pytest.raises(BadInputError, match="same shape"): unit_phases(torch.randn(50, 3), torch.randn(50, 2), method="geometric")
    with pytest.raises(BadInputError, match="not a map network"): synchrony_sweep("henon", "a", [1.0])
    with pytest.raises(BadInputError, match="values is empty"): synchrony_sweep(map_network("chialvo", "chain", n=2), "eps", [])
    with pytest.raises(BadInputError, match="n_starts"): synchrony_sweep(map_network("chialvo", "chain", n=2), "eps", [0.1], n_starts=0)
    with pytest.raises(BadInputError, match="a map"): find_attractors("lorenz63", torch.zeros(2, 3))
    with pytest.raises(BadInputError, match="max_period"): find_attractors("logistic", [[0.2]], max_period=0)
