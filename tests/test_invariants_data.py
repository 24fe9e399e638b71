"invariants from time series: 0-1 test, entropies (antropy agreement), delay embedding, FNN, correlation dimension, Rosenstein and Kantz, RQA, power spectrum, bad input."
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from dynbook.core import BadInputError
from dynbook.invariants import (zero_one_test, sample_entropy, approximate_entropy, multiscale_entropy,
                                permutation_entropy, delay_embedding, mutual_information_delay, false_nearest_neighbours,
                                correlation_dimension, max_lyapunov_from_data, recurrence_matrix, rqa, RQA, power_spectrum,
                                PowerSpectrum, DivergenceCurve)
from dynbook.kernels import pair_counts
from dynbook.simulate import simulate

F64 = torch.float64


@pytest.fixture(scope="module")
def noise(): return torch.randn(8000, dtype=F64, generator=torch.Generator().manual_seed(3))

@pytest.fixture(scope="module")
def lorenz_x(): return simulate("lorenz63", 10000, dt=0.01, transient=2000, compile=False).x[:, 0]

def logistic(r, n=3000): return simulate("logistic", n, params={"r": r}, x0=[0.3], transient=1000).x[:, 0]


def test_zero_one():
    assert zero_one_test(logistic(3.97)).K > 0.9
    assert zero_one_test(logistic(3.5)).K < 0.1
    z = zero_one_test(logistic(3.97, 500), c=[1.0, 2.0])
    assert z.Kc.shape == (2,) and z.pq(1)[0].shape == (501,)

def test_sample_entropy_white_noise(noise):
    assert abs(sample_entropy(noise) - (-math.log(math.erf(0.1)))) < 0.05
    assert abs(sample_entropy(noise, m=3) - (-math.log(math.erf(0.1)))) < 0.1      # the limit is the same for every m

def test_sample_entropy_sine():
    s = torch.sin(2 * math.pi * torch.arange(10000, dtype=F64) / 1000)
    assert 0 <= sample_entropy(s) < 0.02
    assert approximate_entropy(s) < 0.03

def test_multiscale_white_noise(noise):
    ms = multiscale_entropy(noise, scales=[1, 2, 4])
    th = [-math.log(math.erf(0.1 * math.sqrt(s))) for s in (1, 2, 4)]
    assert np.allclose(ms.entropy.numpy(), th, atol=0.1)

def test_against_antropy(noise):
    ant = pytest.importorskip("antropy")
    lc = logistic(3.97, 6000)
    for x in (noise[:2000], noise, lc):               # antropy's numba path (< 5000 samples) and its KD-tree path
        xn = x.numpy()
        assert abs(sample_entropy(x) - ant.sample_entropy(xn)) < 1e-9
        assert abs(sample_entropy(x, m=3) - ant.sample_entropy(xn, order=3)) < 1e-9
        assert abs(sample_entropy(x, r=0.3, relative=False) - ant.sample_entropy(xn, tolerance=0.3)) < 1e-9
    assert abs(approximate_entropy(noise[:2000]) - ant.app_entropy(noise[:2000].numpy())) < 1e-9
    for o, d in ((3, 1), (4, 1), (3, 2)):
        assert abs(permutation_entropy(lc, o, d) - ant.perm_entropy(lc.numpy(), o, d, normalize=True)) < 1e-12
        assert abs(permutation_entropy(lc, o, d, normalize=False) - ant.perm_entropy(lc.numpy(), o, d)) < 1e-12

@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=8, max_size=60, unique=True), st.integers(2, 5), st.integers(1, 2))
def test_permutation_entropy_properties(vals, order, delay):
    x = torch.tensor(sorted(vals), dtype=F64)
    if len(x) < (order - 1) * delay + 1:          # shorter than one pattern: a clear error
        with pytest.raises(BadInputError, match="too short"): permutation_entropy(x, order, delay)
        return
    assert permutation_entropy(x, order, delay) == 0.0
    assert permutation_entropy(-x, order, delay) == 0.0
    h = permutation_entropy(torch.tensor(vals, dtype=F64), order, delay)
    assert 0.0 <= h <= 1.0 + 1e-12

@settings(max_examples=50, deadline=None)
@given(st.integers(1, 80), st.integers(1, 6), st.integers(1, 5))
def test_delay_embedding_identity(T, dim, delay):
    x = torch.arange(T, dtype=F64) * 1.5
    span = (dim - 1) * delay + 1
    if span > T:
        with pytest.raises(BadInputError, match="spans"): delay_embedding(x, dim, delay)
        return
    e = delay_embedding(x, dim, delay)
    assert e.shape == (T - span + 1, dim)
    i, k = torch.meshgrid(torch.arange(e.shape[0]), torch.arange(dim), indexing="ij")
    assert torch.equal(e, x[i + k * delay])

def test_delay_and_dimension(lorenz_x):
    d = mutual_information_delay(lorenz_x, max_lag=60)
    assert d.found_minimum and 10 <= d.delay <= 20
    assert false_nearest_neighbours(lorenz_x, d.delay, max_dim=5).dim == 3

def test_correlation_dimension():
    h = simulate("henon", 5000, x0=[0.1, 0.1], transient=1000).x
    assert abs(correlation_dimension(h).D - 1.21) < 0.06
    lz = simulate("lorenz63", 50000, dt=0.01, transient=2000, save_every=10, compile=False).x
    cd = correlation_dimension(lz, theiler=10)
    assert abs(cd.D - 2.05) < 0.05 and cd.i0 < cd.i1
    assert abs(correlation_dimension(torch.rand(3000, dtype=F64, generator=torch.Generator().manual_seed(0))).D - 1.0) < 0.05

def test_rosenstein_and_kantz(lorenz_x):
    r = max_lyapunov_from_data(lorenz_x, dt=0.01, dim=5, delay=16)
    assert abs(r.lam - 0.906) < 0.0906
    assert r.y.shape == (r.steps.shape[0],) and r.method == "rosenstein" and "rosenstein" in repr(r)
    k = max_lyapunov_from_data(lorenz_x, dt=0.01, dim=5, delay=16, method="kantz")
    assert isinstance(k, DivergenceCurve) and k.method == "kantz" and "kantz" in repr(k)
    assert abs(k.lam - 0.906) < 0.0906
    assert k.fit == r.fit and k.y.shape == r.y.shape           # the same default fit window


def test_kantz_equals_direct_computation(lorenz_x):
    "Kantz's S(k) against full distance matrices at every step, on a short series."
    x = lorenz_x[:1200:2]
    dim, delay, w, S, r = 3, 8, 10, 30, 2.5
    k = max_lyapunov_from_data(x, dt=0.02, dim=dim, delay=delay, theiler=w, max_steps=S, fit=(0, 10), method="kantz", r=r)
    E = delay_embedding(x, dim, delay); n = len(E) - S
    i = torch.arange(n)
    U = (torch.cdist(E[:n], E[:n]) <= r) & ((i[:, None] - i[None]).abs() > w)
    has = U.any(1)
    direct = torch.stack([torch.log((torch.cdist(E[s:n + s], E[s:n + s]) * U).sum(1)[has] / U.sum(1)[has]).mean() for s in range(S + 1)])
    torch.testing.assert_close(k.y, direct, rtol=1e-10, atol=1e-10)
    assert k.info["n_ref"] == int(has.sum()) and k.info["n_pairs"] == int(U.sum())


def test_logistic_lambda_from_data():
    x = logistic(4.0, 3000)
    for m in ("rosenstein", "kantz"):
        assert abs(max_lyapunov_from_data(x, dt=1, dim=2, delay=1, theiler=1, max_steps=10, fit=(0, 4), method=m).lam - math.log(2)) < 0.07


# ---- recurrence quantification ---------------------------------------------------------------------------------

def _rqa_direct(R, l_min, v_min):
    "Every RQA measure from a full matrix (band already cleared), walking each line in Python."
    Rn, N = R.numpy(), len(R)
    def lines(seqs):
        out = []
        for s in seqs:
            run = 0
            for v in list(s) + [False]:
                if v: run += 1
                elif run: out.append(run); run = 0
        return np.array(out, dtype=np.int64)
    dl, vl = lines(np.diagonal(Rn, k) for k in range(-N + 1, N)), lines(Rn[:, j] for j in range(N))
    S = dl.sum()
    d2, v2 = dl[dl >= l_min], vl[vl >= v_min]
    _, cnt = np.unique(d2, return_counts=True)
    pl = cnt / cnt.sum() if len(cnt) else cnt
    return dict(DET=d2.sum() / S, L=d2.mean() if len(d2) else 0.0, L_max=dl.max(), ENTR=float(-(pl * np.log(pl)).sum()),
                LAM=v2.sum() / S, TT=v2.mean() if len(v2) else 0.0, V_max=vl.max())


@pytest.mark.parametrize("series,kw", [
    ("lorenz", dict(rate=0.08, dim=2, delay=5, theiler=1, l_min=3, v_min=2)),
    ("lorenz", dict(eps=3.0, dim=3, delay=4, theiler=0, l_min=2, v_min=3, p=2)),
    ("noise", dict(eps=0.2, theiler=3, l_min=2, v_min=2)),
    ("logistic", dict(rate=0.1, dim=2, theiler=0, l_min=4, v_min=2)),
])
def test_rqa_against_brute_force(series, kw, lorenz_x, noise):
    x = {"lorenz": lorenz_x[:1200:3], "noise": noise[:300], "logistic": logistic(3.97, 300)}[series]
    q = rqa(x, **kw)
    mk = {k: v for k, v in kw.items() if k in ("dim", "delay", "theiler", "p")}
    R = recurrence_matrix(x, eps=q.eps, **mk)
    ref = _rqa_direct(R, kw["l_min"], kw["v_min"])
    for name, v in ref.items(): assert abs(getattr(q, name) - float(v)) < 1e-12, (name, getattr(q, name), v)
    N, w = len(R), kw["theiler"]
    assert abs(q.RR - float(R.sum()) / ((N - w) * (N - w - 1))) < 1e-15
    assert isinstance(q, RQA) and "DET=" in repr(q)


def test_rqa_periodic_is_deterministic():
    s = torch.sin(2 * math.pi * torch.arange(1000, dtype=F64) / 50)
    q = rqa(s, eps=0.1, dim=2, delay=12)
    assert q.DET > 0.99 and q.L_max >= 937
    assert rqa(logistic(3.83, 1000), eps=0.01, dim=2).DET > 0.999            # the 3-cycle


def test_rqa_noise_identities(noise):
    x = noise[:3000]
    sd = float(x.std(unbiased=False))
    eps, w = 0.15 * sd, 2
    q = rqa(x, eps=eps, theiler=w)
    P = math.erf(eps / (2 * sd))                                            # P(|X - Y| <= eps) for i.i.d. Gaussians
    assert abs(q.RR / P - 1) < 0.05
    assert q.RR == int(pair_counts(x, eps, theiler=w)[0]) / ((3000 - w) * (2999 - w) // 2)
    p = q.RR
    nk = 3000 - torch.arange(w + 1, 3000, dtype=F64)
    det = 1 - float((p * ((nk - 2).clamp(min=0) * (1 - p) ** 2 + nk.clamp(max=2) * (1 - p))).sum() / (nk * p).sum())
    assert abs(q.DET / det - 1) < 0.03
    assert abs(q.L - (2 + p / (1 - p))) < 0.01


def test_rqa_fixed_rate_and_matrix(lorenz_x):
    x = lorenz_x[:3000:3]
    for rate in (0.02, 0.1):
        q = rqa(x, rate=rate, dim=3, delay=5, theiler=4)
        assert abs(q.RR - rate) < 1e-3
        R = recurrence_matrix(x, rate=rate, dim=3, delay=5, theiler=4)
        N = len(R)
        assert abs(float(R.sum()) / ((N - 4) * (N - 5)) - rate) < 1e-3 and not R.diagonal().any()
    R0 = recurrence_matrix(x, eps=1.0, dim=3, delay=5)
    assert R0.diagonal().all() and torch.equal(R0, R0.T)


def test_rqa_plot_and_memory_free_path():
    import matplotlib
    matplotlib.use("Agg")
    q = rqa(logistic(3.97, 600), rate=0.05, dim=2)
    ax = q.plot(max_points=200)
    assert ax.images[0].get_array().shape == (200, 200)


# ---- power spectrum --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(), dict(nperseg=1000, overlap=0.25, window="hamming"),
                                dict(nperseg=512, window="boxcar", detrend="linear"), dict(nperseg=333, overlap=0.0, window="blackman")])
def test_power_spectrum_equals_scipy_welch(kw, lorenz_x):
    welch = pytest.importorskip("scipy.signal").welch
    ps = power_spectrum(lorenz_x, dt=0.01, **kw)
    f, p = welch(lorenz_x.numpy(), fs=100.0, nperseg=ps.info["nperseg"], noverlap=ps.info["noverlap"],
                 window=kw.get("window", "hann"), detrend=kw.get("detrend", "constant"))
    p = torch.from_numpy(p); big = p > 1e-8 * p.max()
    torch.testing.assert_close(ps.f, torch.from_numpy(f), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ps.psd[big], p[big], rtol=1e-10, atol=0)
    torch.testing.assert_close(ps.psd / p.max(), p / p.max(), rtol=0, atol=1e-13)


def test_power_spectrum_sine_parseval_noise(noise):
    t = torch.arange(8192, dtype=F64) * 0.01
    f0 = 100 * 25 / 2048                                                   # on a frequency of the grid
    assert abs(power_spectrum(torch.sin(2 * math.pi * f0 * t), dt=0.01).dominant_frequency - f0) < 1e-12
    ps = power_spectrum(torch.sin(2 * math.pi * 1.37 * t + 0.3), dt=0.01)
    assert abs(ps.dominant_frequency - 1.37) < 0.05 * ps.df and isinstance(ps, PowerSpectrum) and "dominant" in repr(ps)
    x = 3.0 * torch.sin(2 * math.pi * 0.7 * t[:8000]) + noise
    box = power_spectrum(x, dt=0.01, nperseg=1000, overlap=0, window="boxcar")
    assert abs(box.total_power - float(x.reshape(8, 1000).var(1, unbiased=False).mean())) < 1e-10 * float(x.var())
    assert abs(power_spectrum(x, dt=0.01).total_power / float(x.var()) - 1) < 0.05
    assert abs(power_spectrum(x, dt=0.01).dominant_frequency - 0.7) < 0.01
    lvl = power_spectrum(noise, dt=0.5, nperseg=128).psd[1:-1].mean()
    assert abs(float(lvl) / (2 * float(noise.var()) * 0.5) - 1) < 0.03     # white noise: flat at 2 sigma^2 dt

@pytest.mark.parametrize("call, msg", [
    (lambda: sample_entropy(torch.randn(3)), "too short"),
    (lambda: sample_entropy(torch.ones(50)), "constant"),
    (lambda: sample_entropy([0.0, float("nan"), 1.0] * 20), "NaN or inf"),
    (lambda: sample_entropy(torch.randn(50), r=-0.1), "r must be a finite number > 0"),
    (lambda: approximate_entropy(torch.ones(50)), "constant"),
    (lambda: permutation_entropy([1.0, 2.0], order=4), "too short"),
    (lambda: delay_embedding(torch.arange(4.), 3, 2), "spans 5 samples"),
    (lambda: zero_one_test(torch.ones(500)), "constant"),
    (lambda: zero_one_test(torch.randn(20)), "too short"),
    (lambda: pair_counts(torch.rand(10, 2), 0.0), "must be > 0"),
    (lambda: correlation_dimension(torch.rand(20), dim=30), "spans 30 samples"),
    (lambda: correlation_dimension(torch.zeros(50, 2)), "constant"),
    (lambda: max_lyapunov_from_data(torch.randn(100, dtype=F64), dt=0.01, dim=3, delay=20, theiler=50), "too few embedded points"),
    (lambda: max_lyapunov_from_data(torch.randn(100, dtype=F64), dt=-1, dim=3, delay=2), "dt must be"),
    (lambda: false_nearest_neighbours(torch.ones(100), delay=1), "constant"),
    (lambda: mutual_information_delay(torch.randn(50), max_lag=100), "too short"),
    # every data estimator: too short, constant, NaN/inf, r <= 0, an embedding larger than the data
    (lambda: approximate_entropy(torch.randn(3)), "too short"),
    (lambda: approximate_entropy(torch.randn(50), r=0.0), "r must be a finite number > 0"),
    (lambda: approximate_entropy([1.0, float("inf")] * 20), "NaN or inf"),
    (lambda: multiscale_entropy(torch.ones(80)), "constant"),
    (lambda: multiscale_entropy(torch.randn(80), r=-1.0), "r must be a finite number > 0"),
    (lambda: multiscale_entropy(torch.randn(80), scales=[40]), "too few for m=2"),
    (lambda: sample_entropy(torch.randn(50), m=30, delay=2), "too short"),
    (lambda: permutation_entropy(torch.ones(50)), "constant"),
    (lambda: permutation_entropy([0.0, float("nan")] * 10), "NaN or inf"),
    (lambda: permutation_entropy(torch.randn(10), order=4, delay=4), "too short"),
    (lambda: zero_one_test([0.0, float("nan")] * 100), "NaN or inf"),
    (lambda: delay_embedding([0.0, float("nan"), 1.0], 2), "NaN or inf"),
    (lambda: mutual_information_delay([0.0, float("inf")] * 100), "NaN or inf"),
    (lambda: false_nearest_neighbours(torch.randn(30), delay=5, max_dim=6), "too short"),
    (lambda: false_nearest_neighbours([0.0, float("nan")] * 100, delay=1), "NaN or inf"),
    (lambda: correlation_dimension([0.0, float("nan")] * 50), "NaN or inf"),
    (lambda: correlation_dimension(torch.randn(8)), "too short"),
    (lambda: correlation_dimension(torch.rand(200), r=[0.1, 0.2, -0.3, 0.4]), "increasing radii > 0"),
    (lambda: max_lyapunov_from_data(torch.ones(500), dt=0.01, dim=3, delay=2), "constant"),
    (lambda: max_lyapunov_from_data([0.0, float("nan")] * 300, dt=0.01, dim=3, delay=2), "NaN or inf"),
    (lambda: max_lyapunov_from_data(torch.randn(100, dtype=F64), dt=0.01, dim=30, delay=5), "spans 146 samples"),
    (lambda: max_lyapunov_from_data(torch.randn(600, dtype=F64), dt=0.01, dim=3, delay=2, method="kantz", r=-0.5), "r must be a finite number > 0"),
    (lambda: max_lyapunov_from_data(torch.randn(600, dtype=F64), dt=0.01, dim=3, delay=2, method="kantz", r=1e-12), "no pair of delay vectors"),
    (lambda: max_lyapunov_from_data(torch.randn(600, dtype=F64), dt=0.01, dim=3, delay=2, method="wolf"), "method must be"),
    (lambda: max_lyapunov_from_data(torch.randn(600, dtype=F64), dt=0.01, dim=3, delay=2, r=0.5), "method='kantz'"),
    (lambda: max_lyapunov_from_data(torch.randn(600, dtype=F64), dt=0.01, dim=3, delay=2, max_steps=20, fit=(5, 30)), "fit must be"),
    (lambda: rqa(torch.randn(100)), "exactly one of eps"),
    (lambda: rqa(torch.randn(100), eps=0.1, rate=0.1), "exactly one of eps"),
    (lambda: rqa(torch.randn(100), eps=0.0), "eps must be a finite number > 0"),
    (lambda: rqa(torch.randn(100), rate=0.0), "rate must be a number in (0, 1)"),
    (lambda: rqa(torch.randn(100), rate=1.0), "rate must be a number in (0, 1)"),
    (lambda: rqa(torch.ones(100), eps=0.1), "constant"),
    (lambda: rqa(torch.ones(100, 2), eps=0.1), "constant"),
    (lambda: rqa([0.0, float("nan")] * 50, eps=0.1), "NaN or inf"),
    (lambda: rqa(torch.randn(2), eps=0.1), "too short"),
    (lambda: rqa(torch.randn(20), eps=0.1, dim=5, delay=5), "spans 21 samples"),
    (lambda: rqa(torch.randn(20), eps=0.1, theiler=18), "too few points"),
    (lambda: rqa(torch.randn(100), eps=1e-12), "no pair of points recurs"),
    (lambda: rqa(torch.randn(100, 2), eps=0.1, dim=2), "points (T, d) are used as they are"),
    (lambda: rqa(torch.randn(100), eps=0.1, l_min=0), "l_min must be an integer >= 1"),
    (lambda: recurrence_matrix(torch.randn(30000), eps=0.1), "too large"),
    (lambda: recurrence_matrix(torch.randn(3, 3, 3), eps=0.1), "series (T,) or points (T, d)"),
    (lambda: power_spectrum(torch.randn(5)), "too short for a power spectrum"),
    (lambda: power_spectrum(torch.ones(100)), "constant"),
    (lambda: power_spectrum([0.0, float("nan")] * 50), "NaN or inf"),
    (lambda: power_spectrum(torch.randn(100), nperseg=101), "longer than the series"),
    (lambda: power_spectrum(torch.randn(100), dt=-0.1), "dt must be a finite number > 0"),
    (lambda: power_spectrum(torch.randn(100), overlap=1.0), "overlap must be a fraction"),
    (lambda: power_spectrum(torch.randn(100), window="nonsense"), "unknown window"),
    (lambda: power_spectrum(torch.randn(100), nperseg=16, window=torch.ones(8)), "window must have nperseg=16"),
    (lambda: power_spectrum(torch.randn(100), detrend="quadratic"), "detrend must be"),
])
def test_bad_input(call, msg):
    with pytest.raises(BadInputError, match=re.escape(msg)): call()


def test_false_neighbours_periodic_map_orbit_is_finite():
    "A period-4 logistic orbit repeats its points exactly: no NaN fractions, and one dimension suffices."
    from dynbook import simulate
    from dynbook.invariants import false_nearest_neighbours
    x = simulate("logistic", 2000, params={"r": 3.5}, x0=[0.3], transient=1000).x[:, 0]
    fnn = false_nearest_neighbours(x, 1, max_dim=4)
    assert torch.isfinite(fnn.fraction).all()
    assert fnn.dim == 1
