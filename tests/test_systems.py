"Tests of the systems catalog (dynbook.systems): every system builds, Jacobians match autograd, parameters broadcast, bad input is reported."
import numpy as np
import sympy as sp
import pytest
import torch

from dynbook.core import BadInputError
from dynbook.systems import System, from_dysts, get, names

ALL = names()
ODE = [n for n in ALL if get(n).kind != "pde"]


def random_states(s, B=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return s.x0 + 0.5 * (1 + s.x0.abs()) * torch.randn(B, s.dim, generator=g, dtype=torch.float64)


def assert_jacobian_matches_autograd(s, tol=1e-10):
    x = random_states(s)
    J = s.jacobian(x)
    Ja = torch.vmap(torch.func.jacrev(lambda v: s.rhs(v)))(x)
    assert J.shape == (x.shape[0], s.dim, s.dim)
    err = float(((J - Ja).abs() / (1 + Ja.abs())).max())
    assert err < tol, f"{s.name}: Jacobian differs from autograd by {err:.2e}"


@pytest.mark.parametrize("name", ALL)
def test_every_system_builds(name):
    s = get(name)
    assert isinstance(s, System) and s.name == name
    assert s.x0.shape == (s.dim,) and s.dt > 0
    f = s.rhs(s.x0)
    assert f.shape == (s.dim,) and f.dtype == torch.float64 and bool(torch.isfinite(f).all())


@pytest.mark.parametrize("name", ODE)
def test_jacobian_equals_autograd(name):
    assert_jacobian_matches_autograd(get(name))


@pytest.mark.parametrize("name", ["rossler", "henon", "kuramoto", "lorenz96", "burgers"])
def test_parameter_batch_broadcasts(name):
    s = get(name)
    p0 = s.param_names[-1]
    vals = torch.tensor([0.9, 1.0, 1.1], dtype=torch.float64) * s.params[p0]
    out = s.rhs(s.x0, {p0: vals})
    assert out.shape == (3, s.dim)
    for i, v in enumerate(vals):
        torch.testing.assert_close(out[i], s.rhs(s.x0, {p0: float(v)}))
    if s.kind != "pde":
        assert s.jacobian(s.x0, {p0: vals}).shape == (3, s.dim, s.dim)


def test_names_partition_by_kind():
    parts = [names(k) for k in ("flow", "map", "pde")]
    assert sorted(sum(parts, [])) == sorted(ALL)
    assert all(set(a).isdisjoint(b) for i, a in enumerate(parts) for b in parts[i + 1:])
    assert all(get(n).kind == k for k, part in zip(("flow", "map", "pde"), parts) for n in part)


def test_sizes_and_aliases():
    assert get("lorenz96", n=12).dim == 12
    assert get("kuramoto", n=5).param_names == ["w0", "w1", "w2", "w3", "w4", "K"]
    assert get("lorenz96_two_scale", k=8, j=4).dim == 8 * 5
    assert get("Lorenz-63") is get("lorenz") and get("KS").name == "kuramoto_sivashinsky"
    assert get("rossler", c=4.0).params["c"] == 4.0 and get("rossler").params["c"] == 5.7


def test_pde_rhs_conserves_mean():
    for n in names("pde"):
        s = get(n)
        u = s.x0 + 0.3 * torch.randn(2, s.dim, dtype=torch.float64)
        torch.testing.assert_close(s.rhs(u).mean(-1), torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0)


def test_exact_references():
    x = random_states(get("ikeda"))
    torch.testing.assert_close(torch.linalg.det(get("ikeda").jacobian(x)), torch.full((5,), 0.81, dtype=torch.float64))
    lz = get("lorenz63")
    tr = lz.jacobian(random_states(lz)).diagonal(dim1=-2, dim2=-1).sum(-1)
    torch.testing.assert_close(tr, torch.full((5,), lz.references["divergence"].value, dtype=torch.float64))
    rob = get("robertson")
    torch.testing.assert_close(rob.rhs(random_states(rob)).sum(-1), torch.zeros(5, dtype=torch.float64), atol=1e-6, rtol=0)


@pytest.mark.parametrize("call, message", [
    (lambda: get("lorenz6"), "Did you mean"),
    (lambda: get("no_such_system"), "Unknown system"),
    (lambda: get(42), "must be a string"),
    (lambda: get("rossler", d=1.0), "has no parameter 'd'"),
    (lambda: get("henon").rhs(torch.zeros(4, 3)), "last axis 2"),
    (lambda: get("henon").jacobian(torch.zeros(3)), "last axis 2"),
    (lambda: get("lorenz63").rhs(torch.zeros(3, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)), "parameter tensor needs last axis 3"),
    (lambda: get("lorenz63").rhs(torch.zeros(3), torch.zeros(2)), "parameter tensor needs last axis 3"),
    (lambda: get("kuramoto", n=1), "n must be an integer"),
    (lambda: get("lorenz96", n=2.5), "n must be an integer"),
    (lambda: names("ode"), "kind must be"),
    (lambda: get("rossler").grid(), "not a PDE"),
])
def test_bad_input(call, message):
    with pytest.raises(BadInputError, match=message):
        call()


# -- dysts adapter (optional dependency) -------------------------------------------------------

def _dysts():
    return pytest.importorskip("dysts.flows", reason="dysts (pip install dynbook[dysts]) not importable")


@pytest.mark.parametrize("name", ["Lorenz", "Rossler", "Thomas", "Chua", "DoublePendulum"])
def test_from_dysts_matches_dysts(name):
    _dysts()
    s = from_dysts(name)
    assert s.kind == "flow" and s.dysts_name == name
    inst = getattr(_dysts(), name)()
    x = np.asarray(inst.ic, dtype=float) + 0.1
    np.testing.assert_allclose(s.rhs(torch.as_tensor(x)).numpy(), np.asarray(inst.rhs(x, 0.0), dtype=float), rtol=1e-9, atol=1e-9)
    assert_jacobian_matches_autograd(s)


def test_from_dysts_lorenz_equals_catalog_at_dysts_params():
    _dysts()
    s = from_dysts("Lorenz")
    x = random_states(s)
    torch.testing.assert_close(s.rhs(x), get("lorenz63", beta=2.667).rhs(x))


def test_from_dysts_errors():
    _dysts()
    with pytest.raises(BadInputError, match="Did you mean"):
        from_dysts("Lorenz63")
    with pytest.raises(BadInputError, match="depends on time"):
        from_dysts("Torus")
    with pytest.raises(BadInputError, match="BelousovZhabotinsky"):
        from_dysts("BelousovZhabotinsky")


def test_hand_written_jacobian_and_tangent_hooks():
    "a System given jacobian= and tangent= uses them (and they must equal the generated ones; here they do, by construction)"
    x, y, a = sp.symbols("x y a", real=True)
    plain = System("rot", "flow", [x, y], {"a": 2.0}, [a * y - x ** 3, -x], dt=0.01, x0=[1.0, 0.0])
    calls = []
    def jac(X, p): calls.append("J"); return plain.jacobian_rule(X, p)
    def tan(X, V, p): calls.append("T"); return plain.tangent_rule(X, V, p)
    hooked = System("rot", "flow", [x, y], {"a": 2.0}, [a * y - x ** 3, -x], dt=0.01, x0=[1.0, 0.0], jacobian=jac, tangent=tan)
    X = torch.randn(5, 2, dtype=torch.float64)
    torch.testing.assert_close(hooked.jacobian(X), plain.jacobian(X))
    assert hooked.jacobian_rule is jac and hooked.tangent_rule is tan and calls == ["J"]
    torch.testing.assert_close(hooked.jacobian(X)[0], torch.tensor([[-3 * X[0, 0] ** 2, 2.0], [-1.0, 0.0]], dtype=torch.float64))
