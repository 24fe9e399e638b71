"Tests of dynbook.sindy: exactness on exact data, identities between code paths, properties, the forecaster protocol, bad input."
import math
import warnings

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

from dynbook.core import BadInputError
from dynbook.forecast import make
from dynbook.simulate import simulate
from dynbook.systems import get
from dynbook.sindy import (SINDy, SINDyWarning, FiniteDifference, SavitzkyGolay, Spectral, SplineDerivative, spectral_derivative,
                           Library, PolynomialLibrary, FourierLibrary, CustomLibrary, WeakLibrary, PDELibrary,
                           STLSQ, SR3, Ensemble, RVM, sparsity_path)


@pytest.fixture(scope="module")
def lorenz():
    return simulate("lorenz63", 4000, dt=0.002, transient=2000).x


TRUE = torch.zeros(3, 10, dtype=torch.float64)
TRUE[0, 1], TRUE[0, 2], TRUE[1, 1], TRUE[1, 2], TRUE[1, 6], TRUE[2, 3], TRUE[2, 5] = -10, 10, 28, -1, -1, -8/3, 1


# ---- derivatives ------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=5, max_size=5), st.floats(0.01, 0.2))
def test_fd4_exact_on_quartics(c, h):
    "Fourth-order stencils (interior and one-sided ends) differentiate every quartic exactly."
    t = torch.arange(30, dtype=torch.float64) * h
    x = sum(ci * t**i for i, ci in enumerate(c))
    dx = sum(i * ci * t**(i - 1) for i, ci in enumerate(c) if i)
    scale = 1 + float(x.abs().max()) / h
    assert float((FiniteDifference(4)(x, h)[:, 0] - dx).abs().max()) < 1e-9 * scale


def test_fd2_exact_on_quadratics():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    torch.testing.assert_close(FiniteDifference(2)(3*t**2 - t, t)[:, 0], 6*t - 1)


def test_spectral_and_savgol_and_spline():
    n = 128; x = torch.arange(n, dtype=torch.float64) * 2*math.pi / n
    torch.testing.assert_close(Spectral()(torch.sin(2*x), 2*math.pi / n)[:, 0], 2*torch.cos(2*x))
    torch.testing.assert_close(spectral_derivative(torch.cos(x), 2*math.pi, 3), torch.sin(x))
    t = torch.linspace(0, 2, 201, dtype=torch.float64)
    torch.testing.assert_close(SavitzkyGolay(11, 3)(t**3, t)[:, 0], 3*t**2)            # cubic: exact for polyorder 3
    torch.testing.assert_close(SplineDerivative()(torch.sin(t), t)[5:-5, 0], torch.cos(t[5:-5]), atol=1e-6, rtol=0)


# ---- libraries -------------------------------------------------------------------------------------
@pytest.mark.parametrize("lib", [PolynomialLibrary(3), PolynomialLibrary(2, include_bias=False, interaction_only=True), FourierLibrary(2),
                                 PolynomialLibrary(1) + FourierLibrary(1), PolynomialLibrary(1) * FourierLibrary(1)])
def test_library_transform_matches_sympy(lib):
    "Each fast transform equals evaluating the library's sympy terms (the generic path)."
    X = torch.randn(40, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(lib.transform(X), Library.transform(lib, X))


def test_polynomial_terms_order():
    x, y = sp.symbols("x y", real=True)
    assert PolynomialLibrary(2).terms([x, y]) == [1, x, y, x**2, x*y, y**2]


def test_weak_form_exact_for_polynomials():
    "−∫φ'x = ∫φ ẋ on every window for x = t³ (exact integration by parts, up to quadrature)."
    t = torch.linspace(0, 1, 801, dtype=torch.float64)
    idx, phi, dphi = WeakLibrary(n_windows=20, window=101, p=3).test_functions(801, 1/800)
    torch.testing.assert_close(-(dphi * t[idx]**3).sum(1), (phi * 3*t[idx]**2).sum(1), atol=0, rtol=1e-6)


# ---- optimizers and the estimator ---------------------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_optimizers_recover_random_sparse_models(seed):
    "On exact data Y = ΘW with sparse W (|w| ≥ 0.5), STLSQ, SR3 and the ensemble recover W to round-off."
    g = torch.Generator().manual_seed(seed)
    Th = torch.randn(200, 12, dtype=torch.float64, generator=g)
    mask = torch.rand(12, 2, generator=g) < 0.3
    W = torch.where(mask, (0.5 + torch.rand(12, 2, generator=g, dtype=torch.float64)) * torch.sign(torch.randn(12, 2, generator=g, dtype=torch.float64)), torch.zeros(12, 2, dtype=torch.float64))
    for opt in (STLSQ(0.1, alpha=0.0), SR3(0.1), Ensemble(STLSQ(0.1, alpha=0.0), n_models=5)):
        torch.testing.assert_close(opt.fit(Th, Th @ W), W, atol=1e-9, rtol=0)


def test_rvm_std_matches_least_squares():
    "With the support found, the RVM posterior std equals the least-squares standard error σ sqrt(diag (ΘᵀΘ)⁻¹)."
    g = torch.Generator().manual_seed(1)
    Th = torch.randn(2000, 6, dtype=torch.float64, generator=g)
    y = 2 * Th[:, 1:2] - Th[:, 3:4] + 0.05 * torch.randn(2000, 1, dtype=torch.float64, generator=g)
    r = RVM(threshold=0.05); W = r.fit(Th, y)
    assert (W[:, 0] != 0).tolist() == [False, True, False, True, False, False]
    se = 0.05 * torch.linalg.inv(Th[:, [1, 3]].mT @ Th[:, [1, 3]]).diagonal().sqrt()
    torch.testing.assert_close(r.coef_std_[[1, 3], 0], se, rtol=0.05, atol=0)


def test_exact_derivatives_give_exact_lorenz(lorenz):
    "Given the true derivatives, SINDy returns Lorenz's coefficients to round-off."
    xd = get("lorenz63").rhs(lorenz)
    m = SINDy(optimizer=STLSQ(0.1, alpha=0.0)).fit(lorenz, 0.002, x_dot=xd)
    torch.testing.assert_close(m.coef_, TRUE, atol=1e-9, rtol=0)
    assert m.score(lorenz, 0.002, x_dot=xd) > 1 - 1e-12


def test_system_callable_and_predict_agree(lorenz):
    m = SINDy(FiniteDifference(4), feature_names=["x", "y", "z"]).fit(lorenz, 0.002)
    s, f = m.to_system(), m.to_callable()
    torch.testing.assert_close(s.rhs(lorenz[:50]), m.predict(lorenz[:50]))
    np.testing.assert_allclose(f(lorenz[:50].numpy()), m.predict(lorenz[:50]).numpy(), rtol=1e-12, atol=1e-9)
    tr = simulate(s, 50, dt=0.01, x0=lorenz[0])
    assert torch.isfinite(tr.x).all() and tr.x.shape == (51, 3)
    assert [str(e.lhs) for e in m.equations()] == ["Derivative(x(t), t)", "Derivative(y(t), t)", "Derivative(z(t), t)"]


def test_multiple_trajectories(lorenz):
    m = SINDy(FiniteDifference(4)).fit([lorenz[:2000], lorenz[2000:]], 0.002)
    assert bool(((m.coef_ != 0) == (TRUE != 0)).all())


def test_get_set_params():
    m = SINDy(optimizer=STLSQ(0.2))
    assert m.get_params()["optimizer__threshold"] == 0.2
    m.set_params(optimizer__threshold=0.3)
    assert m.optimizer.threshold == 0.3
    with pytest.raises(BadInputError, match="no parameter"): m.set_params(optimiser=None)


def test_sparsity_path_picks_true_model():
    "With 2 % noise and the weak form, BIC along the threshold path picks the 7 true terms."
    x = simulate("lorenz63", 10000, dt=0.002, transient=5000).x
    x = x + 0.02 * x.std(0) * torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    m = SINDy(library=WeakLibrary(), optimizer=STLSQ())
    path = sparsity_path(m, x, 0.002, thresholds=np.logspace(-2, 1.5, 15))
    assert path.n_terms[path.best] == 7 and bool(((m.coef_ != 0) == (TRUE != 0)).all())
    assert path.n_terms[0] > 7 and path.n_terms[-1] < 7


def test_pde_find_burgers():
    u = simulate(get("burgers", n=128), 400, dt=1e-4, save_every=4).x
    m = SINDy(FiniteDifference(4), PDELibrary(PolynomialLibrary(2), 2, length=1.0), STLSQ(0.01, normalize_columns=True)).fit(u, 4e-4)
    c = dict(zip(map(str, m.terms_), m.coef_[0].tolist()))
    assert sorted(k for k, v in c.items() if v) == ["u*u_x", "u_xx"]
    assert abs(c["u*u_x"] + 1) < 0.02 and abs(c["u_xx"] - 0.1) < 0.002


# ---- forecaster protocol ---------------------------------------------------------------------------
def test_forecaster_protocol(lorenz):
    z = (lorenz - lorenz.mean(0)) / lorenz.std(0)
    f = make("sindy").fit([z[:3000]], 0.002)
    assert f.predict(z[2990:3000], 5).shape == (5, 3)
    out = f.predict(torch.stack([z[2990:3000], z[3090:3100]]), 5)
    assert out.shape == (2, 5, 3) and out.dtype == torch.float64
    torch.testing.assert_close(out[1, 0], z[3100], atol=1e-3, rtol=0)


# ---- bad input -------------------------------------------------------------------------------------
def test_bad_input(lorenz):
    with pytest.raises(BadInputError, match="fewer samples"): SINDy(library=PolynomialLibrary(3)).fit(lorenz[:15], 0.002)
    bad = lorenz.clone(); bad[7, 1] = float("nan")
    with pytest.raises(BadInputError, match="NaN"): SINDy().fit(bad, 0.002)
    bad[7, 1] = float("inf")
    with pytest.raises(BadInputError, match="NaN or inf"): SINDy().fit(bad, 0.002)
    ts = torch.cumsum(torch.rand(100, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.5, 0)
    with pytest.raises(BadInputError, match="not uniform"): SINDy().fit(lorenz[:100], ts)
    with pytest.raises(BadInputError, match="not uniform"): SINDy(library=WeakLibrary()).fit(lorenz[:100], ts)
    SINDy(SplineDerivative()).fit(lorenz[:100], ts)      # the spline takes any stamps
    with pytest.raises(BadInputError, match="increasing"): SINDy().fit(lorenz[:100], ts.flip(0))
    with pytest.raises(BadInputError, match="time stamps for"): SINDy().fit(lorenz[:100], ts[:50])
    with pytest.raises(BadInputError, match="feature_names"): SINDy(feature_names=["x", "y"]).fit(lorenz, 0.002)
    with pytest.raises(BadInputError, match="not fitted"): SINDy().predict(lorenz)
    with pytest.raises(BadInputError): FiniteDifference(3)
    with pytest.raises(BadInputError): SavitzkyGolay(10, 3)
    with pytest.raises(BadInputError, match="sympy"): SINDy(library=CustomLibrary(lambda x, y, z: ["x*y"])).fit(lorenz, 0.002)
    with pytest.raises(BadInputError, match="dt"): SINDy().fit(lorenz, -0.1)
    with pytest.raises(BadInputError): make("sindy").fit([lorenz], 0.002).predict(lorenz[:5, :2], 3)


def test_warnings_on_degenerate_libraries(lorenz):
    with pytest.warns(SINDyWarning, match="twice"): SINDy(library=PolynomialLibrary(1) + PolynomialLibrary(2)).fit(lorenz, 0.002)
    const = torch.cat([lorenz[:, :2], torch.full((len(lorenz), 1), 3.0, dtype=torch.float64)], -1)
    with pytest.warns(SINDyWarning, match="constant"): SINDy().fit(const, 0.002)
    same = torch.cat([lorenz[:, :2], lorenz[:, :1]], -1)
    with pytest.warns(SINDyWarning, match="identical"): SINDy().fit(same, 0.002)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SINDy().fit(lorenz, 0.002)             # a clean fit warns about nothing


# ---- model-error discovery -------------------------------------------------------------------------
def test_model_error_discovery_flow(lorenz):
    "Lorenz with the −xz term dropped from the y equation: the discovered error is −1.0·xz in that equation only."
    from dynbook.sindy import model_error_discovery
    from dynbook.systems import System
    x, y, z = sp.symbols("x y z", real=True)
    model = System("lorenz_no_xz", "flow", [x, y, z], {}, [10*(y - x), 28*x - y, x*y - sp.Rational(8, 3)*z], dt=0.002, x0=[1.0, 1.0, 1.0])
    m = model_error_discovery(model, lorenz, 0.002, optimizer=STLSQ(0.05))
    expect = torch.zeros(3, 10, dtype=torch.float64); expect[1, 6] = -1.0
    assert bool(((m.coef_ != 0) == (expect != 0)).all())
    torch.testing.assert_close(m.coef_[1, 6], torch.tensor(-1.0, dtype=torch.float64), atol=1e-3, rtol=0)


def test_model_error_discovery_bad_input(lorenz):
    from dynbook.sindy import model_error_discovery
    with pytest.raises(BadInputError, match="dimension"): model_error_discovery(get("rossler"), lorenz[:, :2], 0.01)
    with pytest.raises(BadInputError, match="System"): model_error_discovery("lorenz63", lorenz, 0.01)



def test_model_error_discovery_noisy_ks():
    """MEDIDA with noisy observations (reduced twin experiment): KS without u·u_x, every grid point observed every 0.01
    with noise 1 % of the field's std, analysed by a localised square-root EnKF run with the imperfect model (plus
    additive model-error noise); with the library lagged (lag=3) the discovered error is u·u_x alone, coefficient ≈ −1."""
    from dynbook.sindy import model_error_discovery
    from dynbook.systems import System
    from dynbook.assimilation import EnKF, Localization
    ks = get("kuramoto_sivashinsky", n=128)
    k = sp.Symbol("k", real=True)
    model = System("ks_no_advection", "pde", [], dict(L=ks.params["L"]), [], dt=0.25, x0=ks.x0.numpy(),
                   pde=dict(linear=k**2 - k**4, nonlinear=0.0, length="L", equation=None), structure=dict(n=128))
    dt, T, N, q = 0.01, 400, 20, 0.025
    u = simulate(ks, T, dt=dt, x0=simulate(ks, 400, dt=0.25).x[-1]).x
    sig = 0.01 * float(u.std())
    g = torch.Generator().manual_seed(0); gm = torch.Generator().manual_seed(1)
    y = u + sig * torch.randn(u.shape, dtype=torch.float64, generator=g)
    def step(X):
        Xn = simulate(model, 1, dt=dt, x0=X, compile=False, progress=False).x[..., -1, :]
        z = torch.randn(Xn.shape, dtype=Xn.dtype, generator=gm)
        return Xn + q * z / float(z.std())
    f = EnKF(step, torch.eye(128, dtype=torch.float64), sig**2, obs_dt=dt, n_members=N, method="sqrt", localization=Localization(8), seed=0)
    ua = f.run(y[1:], ensemble=y[0] + 0.3 * torch.randn(N, 128, dtype=torch.float64, generator=g)).analysis_mean[99:]
    m = model_error_discovery(model, ua, dt, lag=3)
    c = dict(zip(map(str, m.terms_), m.coef_[0].tolist()))
    assert [t for t, v in c.items() if v] == ["u*u_x"]
    assert abs(c["u*u_x"] + 1) < 0.05
    with pytest.raises(BadInputError, match="lag"): model_error_discovery(model, ua[:8], dt, lag=3)

def test_pde_library_cutoff():
    "With cutoff=0.5 the spectral derivatives drop wavenumbers above half the largest one."
    n = 128; x = torch.arange(n, dtype=torch.float64) * 2*math.pi / n
    u = torch.sin(3*x) + 0.1*torch.sin(50*x)
    F = PDELibrary(PolynomialLibrary(1), 1, length=2*math.pi, cutoff=0.5).transform_field(u[None])
    torch.testing.assert_close(F[:, 2], 3*torch.cos(3*x))     # columns: 1, u, u_x, u*u_x
