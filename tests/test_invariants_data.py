"invariants from time series: 0-1 test, entropies (antropy agreement), delay embedding, FNN, correlation dimension, Rosenstein, bad input."
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from dynbook.core import BadInputError
from dynbook.invariants import (zero_one_test, pair_counts, sample_entropy, approximate_entropy, multiscale_entropy,
                                permutation_entropy, delay_embedding, mutual_information_delay, false_nearest_neighbours,
                                correlation_dimension, max_lyapunov_from_data)
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

def test_pair_counts_brute_force():
    P = torch.rand(200, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    r = torch.tensor([0.1, 0.2, 0.5], dtype=F64)
    D = torch.cdist(P, P, p=2)
    far = (torch.arange(200)[:, None] - torch.arange(200)[None]).abs() > 3
    exp = torch.stack([((D <= ri) & far).sum() // 2 for ri in r])
    assert torch.equal(pair_counts(P, r, theiler=3, p=2), exp)
    assert torch.equal(pair_counts(P, r, theiler=3, p=2, per_point=True).sum(0), 2 * exp)

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
    if len(x) >= (order - 1) * delay + 1:
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

def test_rosenstein(lorenz_x):
    r = max_lyapunov_from_data(lorenz_x, dt=0.01, dim=5, delay=16)
    assert abs(r.lam - 0.906) < 0.0906
    assert r.y.shape == (r.steps.shape[0],)

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
])
def test_bad_input(call, msg):
    with pytest.raises(BadInputError, match=msg): call()
