"invariants: Lyapunov spectra (identities, batching, finite-time windows, bad input) and the Kaplan–Yorke dimension."
import math
import os

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings, assume, HealthCheck, strategies as st

from dynbook import kernels
from dynbook.core import BadInputError, IntegrationError
from dynbook.invariants import lyapunov_spectrum, finite_time_exponents, kaplan_yorke_dimension, LyapunovSpectrum
from dynbook.systems import System, get

F64 = torch.float64


def test_henon_sum_is_log_det():
    r = lyapunov_spectrum("henon", 5000)
    assert isinstance(r, LyapunovSpectrum) and r.exponents.shape == (2,)
    assert abs(float(r.exponents.sum()) - math.log(0.3)) < 1e-10
    assert abs(float(r.exponents[0]) - 0.41922) < 0.01


def test_lorenz_sum_is_divergence():
    r = lyapunov_spectrum("lorenz63", 2000, renorm_every=10)
    div = get("lorenz63").references["divergence"].value
    # RK4 truncation error in ln det of the step Jacobian: 7.5e-6 relative at h = 0.01
    assert abs(float(r.exponents.sum()) - div) / abs(div) < 1e-5


def test_batched_equals_per_element():
    x0 = torch.tensor([[0.1, 0.1], [0.2, -0.1], [-0.1, 0.05]], dtype=F64)
    b = lyapunov_spectrum("henon", 3000, x0=x0)
    for i in range(3):
        torch.testing.assert_close(b.exponents[i], lyapunov_spectrum("henon", 3000, x0=x0[i]).exponents, rtol=1e-12, atol=1e-12)
    rho = torch.tensor([28.0, 35.0], dtype=F64)
    lb = lyapunov_spectrum("lorenz63", 500, params={"rho": rho}, renorm_every=5)
    assert lb.exponents.shape == (2, 3) and lb.history.shape[:1] == (2,)
    for i in range(2):
        one = lyapunov_spectrum("lorenz63", 500, params={"rho": float(rho[i])}, renorm_every=5)
        torch.testing.assert_close(lb.exponents[i], one.exponents, rtol=1e-10, atol=1e-10)


def test_batch_broadcasts_x0_with_params():
    x0 = torch.tensor([[0.2], [0.3]], dtype=F64).unsqueeze(1)            # (2, 1, 1)
    r = lyapunov_spectrum("logistic", 200, x0=x0, params={"r": torch.tensor([3.5, 3.7, 3.9], dtype=F64)})
    assert r.exponents.shape == (2, 3, 1) and r.history.shape[:2] == (2, 3) and r.finite_time.shape[:2] == (2, 3)


def test_finite_time_windows_average_to_global():
    ft = finite_time_exponents("lorenz63", 50, 40, renorm_every=10)
    full = lyapunov_spectrum("lorenz63", 2000, renorm_every=10)
    assert ft.shape == (40, 3)
    torch.testing.assert_close(ft.mean(-2), full.exponents, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(full.history[..., -1, :], full.exponents, rtol=1e-12, atol=1e-12)
    fh = finite_time_exponents("henon", 100, 20, x0=torch.tensor([[0.1, 0.1], [0.0, 0.2]], dtype=F64))
    assert fh.shape == (2, 20, 2)
    torch.testing.assert_close(fh.sum(-1), torch.full((2, 20), math.log(0.3), dtype=F64), rtol=1e-10, atol=1e-10)


def test_history_and_records():
    r = lyapunov_spectrum("lorenz63", 1000, renorm_every=10, record_every=100, transient=0)
    assert r.history.shape == (10, 3) and r.times.shape == (10,)
    np.testing.assert_allclose(r.times.numpy(), np.arange(1, 11) * 1.0)
    assert "lorenz63" in repr(r) and "per unit time" in repr(r)
    assert "per iterate" in repr(lyapunov_spectrum("henon", 10))


def test_renorm_every_does_not_change_result():
    a = lyapunov_spectrum("lorenz63", 600, renorm_every=1)
    b = lyapunov_spectrum("lorenz63", 600, renorm_every=20)
    torch.testing.assert_close(a.exponents, b.exponents, rtol=1e-10, atol=1e-10)


def test_k_subset_is_leading_exponents():
    full = lyapunov_spectrum("lorenz63", 1000, renorm_every=10)
    two = lyapunov_spectrum("lorenz63", 1000, renorm_every=10, k=2)
    torch.testing.assert_close(two.exponents, full.exponents[:2], rtol=1e-10, atol=1e-10)


def test_logistic_exact_values():
    r = lyapunov_spectrum("logistic", 20000, params={"r": torch.tensor([3.2, 4.0], dtype=F64)})
    assert abs(float(r.exponents[0, 0]) - 0.5 * math.log(0.16)) < 1e-6        # the 2-cycle: multiplier 4 + 2r - r^2
    assert abs(float(r.exponents[1, 0]) - math.log(2)) < 0.01


def test_kaplan_yorke():
    assert abs(kaplan_yorke_dimension((0.9056, 0.0, -14.5723)) - 2.0621) < 1e-4
    assert abs(kaplan_yorke_dimension((-1.62319, 0.41922)) - 1.2583) < 1e-4     # order does not matter
    assert kaplan_yorke_dimension([-0.5]) == 0.0 and kaplan_yorke_dimension([0.5]) == 1.0
    assert kaplan_yorke_dimension([0.1, 0.1, 0.1]) == 3.0
    assert abs(kaplan_yorke_dimension([0.3, -0.1, -0.4]) - 2.5) < 1e-12
    d = kaplan_yorke_dimension(torch.tensor([[0.9056, 0.0, -14.5723], [-1.0, -2.0, -3.0]]))
    assert d.shape == (2,) and abs(float(d[0]) - 2.0621) < 1e-4 and float(d[1]) == 0.0
    with pytest.raises(BadInputError, match="k >= 1"): kaplan_yorke_dimension([])
    with pytest.raises(BadInputError, match="NaN"): kaplan_yorke_dimension([float("nan"), 1.0])


@pytest.mark.parametrize("call, msg", [
    (lambda: lyapunov_spectrum("henon", 100, dt=0.1), "is a map"),
    (lambda: lyapunov_spectrum("lorenz63", 100, k=4), "between 1 and dim=3"),
    (lambda: lyapunov_spectrum("lorenz63", 100, k=0), "between 1 and dim=3"),
    (lambda: lyapunov_spectrum("lorenz63", 100, k=1.5), "between 1 and dim=3"),
    (lambda: lyapunov_spectrum("lorenz63", 0), "n_steps must be an integer >= 1"),
    (lambda: lyapunov_spectrum("lorenz63", -5), "n_steps must be an integer >= 1"),
    (lambda: lyapunov_spectrum("lorenz63", 100, renorm_every=0), "renorm_every must be an integer >= 1"),
    (lambda: lyapunov_spectrum("lorenz63", 100, renorm_every=7), "must divide n_steps"),
    (lambda: lyapunov_spectrum("lorenz63", 100, record_every=15, renorm_every=10), "multiple of renorm_every"),
    (lambda: lyapunov_spectrum("lorenz63", 100, transient=-1), "transient must be an integer >= 0"),
    (lambda: lyapunov_spectrum("kuramoto_sivashinsky", 100), "not supported yet"),
    (lambda: lyapunov_spectrum("lorenz63", 100, x0=[1.0, float("inf"), 0.0]), "x0 contains NaN or inf"),
    (lambda: lyapunov_spectrum("lorenz63", 100, x0=[1.0, 2.0]), "x0 must have shape (..., 3)"),
    (lambda: lyapunov_spectrum("lorenz63", 100, dt=0.0), "dt must be positive"),
    (lambda: lyapunov_spectrum("lorenz63", 100, params={"rh": 3.0}), "Did you mean 'rho'"),
    (lambda: lyapunov_spectrum("lorenz63", 100, on_blowup="skip"), "on_blowup"),
    (lambda: lyapunov_spectrum(42, 100), "System or a catalog name"),
    (lambda: finite_time_exponents("henon", 0, 10), "window must be an integer >= 1"),
])
def test_bad_input(call, msg):
    with pytest.raises(BadInputError) as e: call()
    assert msg in str(e.value)


def test_blowup():
    with pytest.raises(IntegrationError, match="left the finite numbers"):
        lyapunov_spectrum("lorenz63", 500, dt=0.2)
    r = lyapunov_spectrum("lorenz63", 500, dt=0.02, params={"rho": torch.tensor([28.0, 1e9], dtype=F64)}, on_blowup="nan")
    assert torch.isfinite(r.exponents[0]).all() and torch.isnan(r.exponents[1]).all()


# a linear map x' = A x with the entries of A as parameters, for dims 2 and 3
def _linear_system(n):
    xs = sp.symbols(" ".join(f"x{i}" for i in range(n)), real=True)
    a = {f"a{i}{j}": 0.0 for i in range(n) for j in range(n)}
    A = sp.Matrix(n, n, [sp.Symbol(k, real=True) for k in a])
    return System(f"linear{n}", "map", list(xs), a, list(A * sp.Matrix(xs)), dt=1.0, x0=[0.0] * n)

_LINEAR = {n: _linear_system(n) for n in (2, 3)}

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.sampled_from([2, 3]), data=st.data())
def test_linear_map_spectrum_is_log_abs_eigenvalues(n, data):
    logs = sorted(data.draw(st.lists(st.floats(-2.0, 2.0), min_size=n, max_size=n)), reverse=True)
    assume(all(a - b > math.log(1.25) for a, b in zip(logs, logs[1:])))
    signs = data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
    V = np.eye(n) + 0.6 * np.array(data.draw(st.lists(st.floats(-1.0, 1.0), min_size=n * n, max_size=n * n))).reshape(n, n)
    assume(np.linalg.cond(V) < 50)
    A = V @ np.diag(np.array(signs) * np.exp(logs)) @ np.linalg.inv(V)
    s = _LINEAR[n]
    r = lyapunov_spectrum(s, 200, params=torch.tensor(A.reshape(-1), dtype=F64), transient=300)
    np.testing.assert_allclose(r.exponents.numpy(), logs, atol=1e-6)
    assert abs(float(r.exponents.sum()) - math.log(abs(np.linalg.det(A)))) < 1e-10


@pytest.mark.skipif(not kernels.compiler_available() or not os.environ.get("DYNBOOK_TEST_COMPILE"),
                    reason="compiling the tangent blocks takes a minute or more on a CPU; set DYNBOOK_TEST_COMPILE=1")
def test_compiled_equals_eager():
    x0 = torch.tensor([[0.1, 0.1], [0.2, -0.1]], dtype=F64)
    e = lyapunov_spectrum("henon", 400, x0=x0, renorm_every=4)
    c = lyapunov_spectrum("henon", 400, x0=x0, renorm_every=4, compile=True)
    assert c.info["compiled"]
    torch.testing.assert_close(c.exponents, e.exponents, rtol=1e-12, atol=1e-12)
