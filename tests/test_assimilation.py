"assimilation: the EnKF analysis against a hand-written Kalman filter, localisation, the filter cycle, bad input."
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import dynbook.assimilation as da
from dynbook.assimilation import EnKF, EnKFResult, Localization, enkf_analysis, gaspari_cohn, synthetic_observations
from dynbook.core import BadInputError, IntegrationError
from dynbook.simulate import simulate
from dynbook.systems import get


def kalman(mean, P, y, H, R):
    "Textbook Kalman update in numpy (Joseph form)."
    K = P @ H.T @ np.linalg.inv(H @ P @ H.T + R)
    IKH = np.eye(len(mean)) - K @ H
    return mean + K @ (y - H @ mean), IKH @ P @ IKH.T + K @ R @ K.T


def random_problem(rng, N, d, m, correlated=True):
    X = rng.standard_normal((N, d)) * rng.uniform(0.5, 2, d) + rng.standard_normal(d)
    H = rng.standard_normal((m, d))
    if correlated:
        G = rng.standard_normal((m, m)); R = G @ G.T + 0.5 * np.eye(m)
    else:
        R = np.diag(rng.uniform(0.2, 2, m))
    return X, rng.standard_normal(m), H, R


def test_public_api():
    assert set(da.__all__) == {"gaspari_cohn", "Localization", "enkf_analysis", "synthetic_observations", "EnKFResult", "EnKF"}
    for f in (gaspari_cohn, enkf_analysis, synthetic_observations, EnKF.run, EnKF.forecast, EnKF.analysis, EnKFResult.plot):
        assert f.__doc__


@settings(max_examples=30, deadline=None)
@given(d=st.integers(1, 5), m=st.integers(1, 4), extra=st.integers(1, 8), seed=st.integers(0, 10**6), correlated=st.booleans())
def test_sqrt_equals_kalman_exactly(d, m, extra, seed, correlated):
    "The square-root analysis has exactly the Kalman mean and covariance of the ensemble's own statistics, for any N > d."
    rng = np.random.default_rng(seed)
    X, y, H, R = random_problem(rng, d + extra, d, m, correlated)
    ma, Pa = kalman(X.mean(0), np.cov(X.T).reshape(d, d), y, H, R)
    Xa = enkf_analysis(X, y, H, R, method="sqrt").numpy()
    np.testing.assert_allclose(Xa.mean(0), ma, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(np.cov(Xa.T).reshape(d, d), Pa, rtol=1e-9, atol=1e-10)


def test_sqrt_with_inflation_is_kalman_of_inflated_covariance():
    rng = np.random.default_rng(3)
    X, y, H, R = random_problem(rng, 7, 3, 2)
    lam = 1.3
    ma, Pa = kalman(X.mean(0), lam**2 * np.cov(X.T), y, H, R)
    Xa = enkf_analysis(X, y, H, R, method="sqrt", inflation=lam).numpy()
    np.testing.assert_allclose(Xa.mean(0), ma, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(np.cov(Xa.T), Pa, rtol=1e-10, atol=1e-11)


def test_perturbed_converges_to_kalman_like_inverse_sqrt_N():
    "Errors of the stochastic EnKF against the exact posterior shrink by ~8 when N grows 64-fold."
    mu = np.array([1.0, -1.0, 0.5]); Lp = np.array([[1.0, 0, 0], [0.6, 0.8, 0], [-0.3, 0.4, 0.5]])
    H = np.array([[1.0, 0, 0], [0.5, 0.5, 1.0]]); R = np.array([[0.5, 0.1], [0.1, 0.3]]); y = np.array([0.3, -0.2])
    ma, Pa = kalman(mu, Lp @ Lp.T, y, H, R)
    g = torch.Generator().manual_seed(11)
    errs = []
    for N in (32, 2048):
        Xf = torch.as_tensor(mu) + torch.randn(200, N, 3, generator=g, dtype=torch.float64) @ torch.as_tensor(Lp).T
        Xa = enkf_analysis(Xf, y, H, R, generator=g)
        A = Xa - Xa.mean(-2, keepdim=True)
        errs.append((float(((Xa.mean(-2) - torch.as_tensor(ma))**2).sum(-1).mean().sqrt()),
                     float(((A.mT @ A / (N - 1) - torch.as_tensor(Pa))**2).sum((-2, -1)).mean().sqrt())))
    for e_small, e_large in zip(*errs):
        assert 5.5 < e_small / e_large < 11.5, errs      # sqrt(64) = 8


def test_perturbed_reproducible_and_linear_H_equals_callable():
    rng = np.random.default_rng(4)
    X, y, H, R = random_problem(rng, 9, 4, 3)
    a = enkf_analysis(X, y, H, R, generator=5)
    b = enkf_analysis(X, y, H, R, generator=torch.Generator().manual_seed(5))
    c = enkf_analysis(X, y, lambda E: E @ torch.as_tensor(H).T, R, generator=5)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a, c, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(a, enkf_analysis(X, y, H, R, generator=6))


@pytest.mark.parametrize("method,loc", [("sqrt", None), ("sqrt", Localization(2.0)), ("perturbed", Localization(2.0))])
def test_batched_equals_loop(method, loc):
    g = torch.Generator().manual_seed(1)
    X = torch.randn(3, 2, 6, 8, generator=g, dtype=torch.float64)
    y = torch.randn(3, 2, 4, generator=g, dtype=torch.float64)
    H = torch.eye(8, dtype=torch.float64)[::2]
    out = enkf_analysis(X, y, H, 0.5, method=method, localization=loc, generator=0)
    if method == "sqrt":
        for i in range(3):
            for j in range(2):
                torch.testing.assert_close(out[i, j], enkf_analysis(X[i, j], y[i, j], H, 0.5, method=method, localization=loc), rtol=1e-10, atol=1e-10)
    assert out.shape == X.shape and torch.isfinite(out).all()


def test_shared_observation_broadcasts_over_batch():
    g = torch.Generator().manual_seed(2)
    X = torch.randn(4, 6, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0.1, 0.2], dtype=torch.float64); H = torch.eye(3, dtype=torch.float64)[:2]
    torch.testing.assert_close(enkf_analysis(X, y, H, 1.0, method="sqrt"), enkf_analysis(X, y.expand(4, 2), H, 1.0, method="sqrt"))


def test_letkf_with_infinite_radius_is_etkf_and_taper_zeroes_far_updates():
    rng = np.random.default_rng(7)
    X, y, H, R = random_problem(rng, 6, 10, 10, correlated=False)
    H = np.eye(10)
    wide = enkf_analysis(X, y, H, R, method="sqrt", localization=Localization(1e7))
    np.testing.assert_allclose(wide.numpy(), enkf_analysis(X, y, H, R, method="sqrt").numpy(), rtol=1e-8, atol=1e-8)
    # a single observation of component 0 must leave components beyond 2c (on the ring) untouched
    H1 = np.eye(10)[:1]
    Xa = enkf_analysis(X, y[:1], H1, R[:1, :1], method="sqrt", localization=Localization(1.5)).numpy()
    far = [4, 5, 6]      # ring distance >= 4 > 2c = 3
    np.testing.assert_allclose(Xa[:, far], X[:, far], rtol=0, atol=1e-12)
    Xp = enkf_analysis(X, y[:1], H1, R[:1, :1], localization=Localization(1.5), generator=0).numpy()
    np.testing.assert_allclose(Xp[:, far], X[:, far], rtol=0, atol=1e-12)


def test_gaspari_cohn():
    assert float(gaspari_cohn(0.0)) == 1.0 and float(gaspari_cohn(2.0)) == 0.0 and float(gaspari_cohn(3.5)) == 0.0
    assert math.isclose(float(gaspari_cohn(1.0)), 5 / 24, rel_tol=1e-14)
    r = torch.linspace(0, 2, 2001, dtype=torch.float64)
    v = gaspari_cohn(r)
    assert (v.diff() <= 1e-15).all() and (v >= 0).all()                 # decreasing, non-negative
    for x in (1.0, 2.0):                                                  # continuous at the joins
        assert abs(float(gaspari_cohn(x - 1e-9)) - float(gaspari_cohn(x + 1e-9))) < 1e-7
    pts = torch.linspace(0, 10, 60, dtype=torch.float64)
    assert float(torch.linalg.eigvalsh(gaspari_cohn((pts[:, None] - pts).abs() / 1.3))[0]) > -1e-12   # positive semi-definite on a line


def test_localization_tapers_geometry():
    H = torch.eye(12, dtype=torch.float64)[[0, 6, 11]]
    rxy, ryy = Localization(1.0).tapers(12, 3, H)
    assert rxy.shape == (12, 3) and ryy.shape == (3, 3)
    torch.testing.assert_close(torch.diagonal(ryy), torch.ones(3, dtype=torch.float64))
    assert float(rxy[1, 2]) == pytest.approx(float(gaspari_cohn(2.0)))     # ring: state 1 and obs at 11 are 2 apart
    lxy, _ = Localization(1.0, period=None).tapers(12, 3, H)
    assert float(lxy[1, 2]) == 0.0                                          # on a line they are 10 apart
    coords = torch.arange(12, dtype=torch.float64) * 0.5
    cxy, _ = Localization(0.5, state_coords=coords, period=6.0).tapers(12, 3, H)
    torch.testing.assert_close(cxy, rxy)                                    # the same geometry in other units


def test_synthetic_observations_statistics():
    R = np.array([[1.0, 0.3], [0.3, 0.5]])
    z = synthetic_observations(np.zeros((40000, 3)), np.eye(3)[:2], R, generator=1).numpy()
    np.testing.assert_allclose(np.cov(z.T), R, atol=0.03)
    np.testing.assert_allclose(z.mean(0), 0, atol=0.02)
    y = synthetic_observations(np.ones(3), lambda X: X.sum(-1, keepdims=True), 1e-12)
    assert y.shape == (1,) and abs(float(y[0]) - 3) < 1e-5


def test_enkf_lorenz63_twin_short():
    L63 = get("lorenz63")
    tr = simulate(L63, 600, save_every=10, transient=1000)
    truth = tr.x[1:]
    y = synthetic_observations(truth, torch.eye(3), 1.0, generator=3)
    res = EnKF(L63, torch.eye(3), 1.0, obs_dt=0.1, n_members=8, method="sqrt", inflation=1.02).run(y, x0=tr.x[0] + 3.0, spread=2.0, truth=truth)
    s = res.summary()
    assert s["analysis_rmse"] < 0.6 and s["analysis_rmse"] < s["forecast_rmse"], s
    assert res.analysis_mean.shape == (60, 3) and res.t[0] == pytest.approx(0.1) and res.t[-1] == pytest.approx(6.0)
    assert "EnKFResult(lorenz63, sqrt, N=8" in repr(res)
    assert res.rmse("forecast").shape == (60,) and res.spread().shape == (60,)


def test_callable_model_matches_system_and_batched_runs():
    L63 = get("lorenz63")
    p = L63.param_tensor()
    def step(X, n=5, h=0.02):
        for _ in range(n):
            k1 = L63.rhs(X, p); k2 = L63.rhs(X + h/2*k1, p); k3 = L63.rhs(X + h/2*k2, p); k4 = L63.rhs(X + h*k3, p)
            X = X + h/6*(k1 + 2*k2 + 2*k3 + k4)
        return X
    y = synthetic_observations(simulate(L63, 100, dt=0.02, save_every=5, transient=500).x[1:], torch.eye(3)[:2], 1.0)
    ens = EnKF(L63, torch.eye(3)[:2], 1.0, n_members=6).initial_ensemble(torch.tensor([1.0, 2.0, 20.0], dtype=torch.float64), 1.0)
    a = EnKF(L63, torch.eye(3)[:2], 1.0, obs_dt=0.1, dt=0.02, n_members=6, method="sqrt").run(y, ensemble=ens)
    b = EnKF(step, torch.eye(3)[:2], 1.0, obs_dt=0.1, n_members=6, method="sqrt").run(y, ensemble=ens)
    torch.testing.assert_close(a.analysis_mean, b.analysis_mean, rtol=1e-9, atol=1e-9)
    # a batch of two filters (two initial ensembles) equals the two runs
    ens2 = torch.stack([ens, ens + 0.5])
    c = EnKF(L63, torch.eye(3)[:2], 1.0, obs_dt=0.1, dt=0.02, n_members=6, method="sqrt").run(y, ensemble=ens2)
    assert c.analysis_mean.shape == (2, 20, 3)
    torch.testing.assert_close(c.analysis_mean[0], a.analysis_mean, rtol=1e-9, atol=1e-9)


def test_plot_runs():
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    L63 = get("lorenz63")
    tr = simulate(L63, 100, save_every=10, transient=500)
    res = EnKF(L63, torch.eye(3)[:1], 1.0, obs_dt=0.1, n_members=5).run(synthetic_observations(tr.x[1:], torch.eye(3)[:1], 1.0), x0=tr.x[0], truth=tr.x[1:])
    axes = res.plot(component=0)
    assert len(axes) == 2
    plt.close("all")
    res_nt = EnKF(L63, torch.eye(3)[:1], 1.0, obs_dt=0.1, n_members=5).run(synthetic_observations(tr.x[1:], torch.eye(3)[:1], 1.0), x0=tr.x[0])
    res_nt.plot(); plt.close("all")
    assert "analysis RMSE" not in repr(res_nt)
    with pytest.raises(BadInputError, match="no truth"): res_nt.rmse()


X0 = torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
H0 = np.array([[1.0, 0, 0], [0, 1.0, 0]]); R0 = np.array([[0.5, 0.1], [0.1, 0.3]]); Y0 = np.array([0.3, -0.2])

@pytest.mark.parametrize("kwargs,msg", [
    (dict(ensemble=X0[:1]), "at least 2 members"),
    (dict(ensemble=X0[0]), r"shape \(..., N, d\)"),
    (dict(ensemble=torch.where(torch.arange(3) == 1, float("nan"), X0)), "ensemble contains NaN"),
    (dict(ensemble=np.full((4, 3), np.inf)), "ensemble contains NaN or inf"),
    (dict(y=[float("nan"), 0.0]), "y contains NaN"),
    (dict(y=1.0), "y must be a vector"),
    (dict(y=[1.0, 2.0, 3.0]), "H has 2 rows but y holds 3"),
    (dict(H=H0[:, :2]), r"H must be a matrix \(m, 3\)"),
    (dict(H=np.ones(3)), r"H must be a matrix"),
    (dict(H=lambda X: X[..., :1]), r"observation operator must map"),
    (dict(H=lambda X: X[:1]), r"observation operator must map"),
    (dict(R=np.ones((3, 3))), r"R must be a covariance \(2, 2\)"),
    (dict(R=[[1.0, 2.0], [2.0, 1.0]]), "not positive definite"),
    (dict(R=[[1.0, 0.2], [0.1, 1.0]]), "R must be symmetric"),
    (dict(R=[1.0, -1.0]), "positive variances"),
    (dict(R=[1.0, 0.0]), "positive variances"),
    (dict(R=0.0), "positive variances"),
    (dict(R=[1.0, 1.0, 1.0]), r"R as variances must have shape \(2,\)"),
    (dict(R=[[float("nan"), 0], [0, 1.0]]), "R contains NaN"),
    (dict(method="etkf"), "method must be one of"),
    (dict(inflation=0.0), "inflation must be positive"),
    (dict(inflation=float("nan")), "inflation must be positive"),
    (dict(inflation="big"), "inflation must be a number"),
    (dict(localization=2.0), "localization must be a Localization"),
    (dict(method="sqrt", localization=Localization(1.0)), "uncorrelated observation errors"),
    (dict(H=lambda X: X[..., :2], localization=Localization(1.0)), "needs obs_coords"),
    (dict(R=[0.5, 0.3], localization=Localization(1.0, obs_coords=[0.0])), r"obs_coords must have shape \(2,\)"),
    (dict(R=[0.5, 0.3], localization=Localization(1.0, state_coords=[0.0, 1.0])), r"state_coords must have shape \(3,\)"),
    (dict(R=[0.5, 0.3], localization=Localization(1.0, period=-2.0)), "period must be positive"),
    (dict(generator="seed"), "generator must be a torch.Generator"),
    (dict(ensemble=torch.randn(2, 8, 3, dtype=torch.float64), y=np.zeros((3, 2))), "does not broadcast"),
])
def test_analysis_bad_input(kwargs, msg):
    args = dict(ensemble=X0, y=Y0, H=H0, R=R0) | kwargs
    e, y, H, R = args.pop("ensemble"), args.pop("y"), args.pop("H"), args.pop("R")
    with pytest.raises(BadInputError, match=msg):
        enkf_analysis(e, y, H, R, **args)


def test_localization_bad_input():
    with pytest.raises(BadInputError, match="half_width must be positive"): Localization(0.0)
    with pytest.raises(BadInputError, match="half_width must be positive"): Localization(float("inf"))
    with pytest.raises(BadInputError, match="half_width must be a number"): Localization("wide")


def test_enkf_bad_input():
    L63 = get("lorenz63")
    y = np.zeros((5, 3))
    with pytest.raises(BadInputError, match="whole multiple"): EnKF(L63, np.eye(3), 1.0, obs_dt=0.105)
    with pytest.raises(BadInputError, match="whole multiple"): EnKF(L63, np.eye(3), 1.0, obs_dt=-0.1)
    with pytest.raises(BadInputError, match="n_members must be an integer >= 2"): EnKF(L63, np.eye(3), 1.0, n_members=1)
    with pytest.raises(BadInputError, match="model must be a System"): EnKF(42, np.eye(3), 1.0)
    with pytest.raises(BadInputError, match="Unknown system|Did you mean"): EnKF("lorenz6", np.eye(3), 1.0)
    with pytest.raises(BadInputError, match="method must be one of"): EnKF(L63, np.eye(3), 1.0, method="enkf")
    with pytest.raises(BadInputError, match="localization must be a Localization"): EnKF(L63, np.eye(3), 1.0, localization=3)
    with pytest.raises(BadInputError, match="dt must be positive"): EnKF(L63, np.eye(3), 1.0, dt=0.0)
    f = EnKF(L63, np.eye(3), 1.0, obs_dt=0.05, n_members=4)
    with pytest.raises(BadInputError, match="truth must hold the true states"): f.run(y, truth=np.zeros((4, 3)))
    with pytest.raises(BadInputError, match="the system lorenz63 has 3"): f.run(y, ensemble=np.zeros((4, 2)))
    with pytest.raises(BadInputError, match=r"y must hold observations \(T, m\)"): f.run(np.zeros(3))
    with pytest.raises(BadInputError, match="y contains NaN"): f.run(np.full((5, 3), np.nan))
    with pytest.raises(BadInputError, match="spread must be non-negative"): f.run(y, spread=-1.0)
    with pytest.raises(BadInputError, match="give x0"): EnKF(lambda X: X, np.eye(3), 1.0).run(y)
    with pytest.raises(BadInputError, match="shape it was given"): EnKF(lambda X: X[..., :2], np.eye(3), 1.0).run(y, x0=np.zeros(3))
    with pytest.raises(IntegrationError, match="NaN or inf"): EnKF(lambda X: X / 0.0, np.eye(3), 1.0).run(y, x0=np.ones(3))
    res = f.run(y)
    with pytest.raises(BadInputError, match="which must be"): res.spread("posterior")
