"Compiled step chunks equal eager ones; the compile decision and its fallback."
import warnings

import pytest
import torch

from dynbook import kernels
from dynbook.simulate import simulate, RK4, MapIteration
from dynbook.systems import get


def _run(name, n, compile, dtype=torch.float64, **kw):
    s = get(name)
    g = torch.Generator().manual_seed(0)
    x0 = s.x0.to(dtype) + 0.01 * torch.randn(32, s.dim, generator=g, dtype=dtype)
    return simulate(s, n, x0=x0, compile=compile, dtype=dtype, **kw).x


@pytest.mark.skipif(not kernels.compiler_available(), reason="no C++ compiler for torch.compile")
@pytest.mark.parametrize("name,n,kw", [("lorenz63", 100, {}), ("henon", 100, {}), ("lorenz63", 96, {"save_every": 7, "transient": 40})])
def test_compiled_equals_eager(name, n, kw, monkeypatch):
    monkeypatch.delenv("DYNBOOK_COMPILE", raising=False)
    monkeypatch.delenv("TORCH_COMPILE_DISABLE", raising=False)
    eager = _run(name, n, False, **kw)
    comp = _run(name, n, True, **kw)
    assert kernels._STATE["compiler_ok"] is True
    # inductor may reassociate a sum: equal to a few ulps over 100 steps
    torch.testing.assert_close(comp, eager, rtol=1e-11, atol=1e-11)


@pytest.mark.skipif(not kernels.compiler_available(), reason="no C++ compiler for torch.compile")
def test_compiled_equals_eager_float32(monkeypatch):
    monkeypatch.delenv("DYNBOOK_COMPILE", raising=False)
    eager = _run("lorenz63", 50, False, dtype=torch.float32)
    comp = _run("lorenz63", 50, True, dtype=torch.float32)
    torch.testing.assert_close(comp, eager, rtol=1e-5, atol=1e-5)


def test_environment_switch(monkeypatch):
    monkeypatch.setenv("DYNBOOK_COMPILE", "0")
    assert kernels.should_compile(True, work=1e9) is False
    monkeypatch.setenv("DYNBOOK_COMPILE", "1")
    assert kernels.should_compile("auto", work=0.0) == kernels.compiler_available()
    monkeypatch.delenv("DYNBOOK_COMPILE")
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    assert kernels.should_compile(True, work=1e9) is False
    monkeypatch.delenv("TORCH_COMPILE_DISABLE")
    assert kernels.should_compile("auto", work=0.1) is False
    assert kernels.should_compile("auto", work=100.0) == kernels.compiler_available()
    with pytest.raises(kernels.DynbookError):
        kernels.should_compile("sometimes", work=1.0)


def test_fallback_to_eager_when_compile_fails(monkeypatch):
    "A broken compiler: one warning, then the same results eagerly."
    def broken_compile(fn, **kw):
        def run(*a): raise RuntimeError("no working C++ compiler (simulated)")
        return run
    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(kernels, "_STATE", {"compiler_ok": None, "warned": False})
    monkeypatch.setattr(kernels, "_CHUNKS", {})
    with pytest.warns(RuntimeWarning, match="running eagerly"):
        got = _run("lorenz63", 40, True)
    assert kernels._STATE["compiler_ok"] is False
    assert kernels.should_compile(True) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no second warning
        again = _run("lorenz63", 40, True)
    torch.testing.assert_close(got, _run("lorenz63", 40, False), rtol=0, atol=0)
    torch.testing.assert_close(again, got, rtol=0, atol=0)


def test_caller_errors_are_not_compiler_failures(monkeypatch):
    "An error in the step itself propagates and does not disable compilation."
    monkeypatch.setattr(kernels, "_STATE", {"compiler_ok": True, "warned": False})
    def bad_step(f, x, p, dt): raise ValueError("bad step")
    fn = kernels.compiled(lambda x: bad_step(None, x, None, None), tag="bad")
    with pytest.raises(Exception):
        fn(torch.ones(3))
    assert kernels._STATE["compiler_ok"] is True


def test_run_steps_blowup_reports_step_and_index():
    def explode(f, x, p, dt): return torch.where(x > 0, x * 1e300, x)
    x = torch.tensor([[1.0], [-1.0], [2.0]], dtype=torch.float64)
    with pytest.raises(kernels.BlowUp) as e:
        kernels.run_steps(explode, None, x, (None, None), n_save=10)
    assert e.value.step == 2 and e.value.index == [[0], [2]]


# ---- tangent dynamics ----------------------------------------------------------------------------------------

import math
import numpy as np
from dynbook.core import BadInputError
from dynbook.kernels import (tangent_step_map, tangent_step_flow, orthonormalise, tangent_block, to_rows, from_rows, pair_counts,
                             nearest_neighbours, neighbour_pairs, recurrence_lines)

F64 = torch.float64


def test_tangent_step_map_is_chain_rule():
    s = get("henon")
    p = s.param_tensor()
    x = torch.tensor([0.3, -0.2], dtype=F64)
    x1, V1 = from_rows(*tangent_step_map(s.tangent_rule, *to_rows(x, torch.eye(2, dtype=F64)), p, 1.0))
    torch.testing.assert_close(V1, s.jacobian(x))
    torch.testing.assert_close(x1, s.rhs(x))
    Qo, g = orthonormalise(torch.tensor([[3.0, 1.0], [4.0, 2.0]], dtype=F64))
    torch.testing.assert_close(Qo.T @ Qo, torch.eye(2, dtype=F64))
    assert abs(float(g.sum()) - math.log(2.0)) < 1e-12        # |det| = |3*2 - 1*4| = 2


def test_tangent_step_flow_is_derivative_of_rk4_step():
    s = get("lorenz63")
    p = s.param_tensor()
    x = torch.tensor([1.0, 2.0, 20.0], dtype=F64)
    Q = torch.linalg.qr(torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(0)))[0]
    def step(x): return from_rows(*tangent_step_flow(s.tangent_rule, *to_rows(x, Q), p, 0.01))
    Qn = step(x)[1]
    eps = 1e-6
    fd = torch.stack([(step(x + eps * Q[:, j])[0] - step(x - eps * Q[:, j])[0]) / (2 * eps) for j in range(3)], -1)
    torch.testing.assert_close(fd, Qn, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 10])
def test_orthonormalise_equals_householder_qr(k):
    "Gram-Schmidt twice (k <= 8) and torch.linalg.qr (k > 8) on rows: Householder's Q (up to column signs) and log|R_ii|."
    A = torch.randn(6, 12, k, dtype=F64, generator=torch.Generator().manual_seed(k))          # 6 batches of 12 x k
    Q, R = torch.linalg.qr(A)
    d = torch.diagonal(R, dim1=-2, dim2=-1)
    V, g = orthonormalise(A.movedim((-2, -1), (0, 1)))
    torch.testing.assert_close(g, torch.log(d.abs()), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(V.movedim((0, 1), (-2, -1)), Q * torch.sign(d).unsqueeze(-2), rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not kernels.compiler_available(), reason="no C++ compiler for torch.compile")
def test_tangent_block_compiled_equals_eager(monkeypatch):
    "The compiled tangent kernel (generated J v, RK4, Gram-Schmidt): Lorenz-63, one step and one QR per call, batched."
    monkeypatch.delenv("DYNBOOK_COMPILE", raising=False)
    monkeypatch.delenv("TORCH_COMPILE_DISABLE", raising=False)
    s = get("lorenz63")
    tan = s.tangent_rule
    def block(x, V, p, dt): return tangent_block(tangent_step_flow, tan, x, V, p, dt, 1)
    comp = kernels.compiled(block, tag="test_tangent_lorenz")
    x, V = to_rows(torch.tensor([[1.0, 1.0, 1.0], [2.0, -1.0, 20.0], [-3.0, 0.5, 30.0]], dtype=F64),
                   torch.eye(3, dtype=F64).expand(3, 3, 3))
    p, dt = s.param_tensor({"rho": torch.tensor([28.0, 35.0, 160.0], dtype=F64)}), 0.01
    for _ in range(3):                                  # a few blocks in a row, as in the Lyapunov loop
        xc, Vc, gc = comp(x, V, p, dt)
        xe, Ve, ge = block(x, V, p, dt)
        assert kernels._STATE["compiler_ok"] is True
        for a, b in ((xc, xe), (Vc, Ve), (gc, ge)): torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        x, V = xe, Ve


# ---- neighbours -------------------------------------------------------------------------------------------------

def _far(n, w): return (torch.arange(n)[:, None] - torch.arange(n)[None]).abs() > w


@pytest.mark.parametrize("p", [2, math.inf])
def test_pair_counts_brute_force(p):
    P = torch.rand(200, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    r = torch.tensor([0.1, 0.2, 0.5], dtype=F64)
    D = torch.cdist(P, P, p=p)
    far = _far(200, 3)
    exp = torch.stack([((D <= ri) & far).sum() // 2 for ri in r])
    assert torch.equal(pair_counts(P, r, theiler=3, p=p), exp)
    assert torch.equal(pair_counts(P, r, theiler=3, p=p, per_point=True), torch.stack([((D <= ri) & far).sum(1) for ri in r], -1))


def test_pair_counts_many_slabs_brute_force():
    "Above 2000 points the counts run over slabs of sorted points: still exact."
    P = torch.rand(3000, 2, dtype=F64, generator=torch.Generator().manual_seed(5))
    D = torch.cdist(P, P, p=math.inf)
    far = _far(3000, 2)
    for ri in (0.01, 0.05):
        assert int(pair_counts(P, ri, theiler=2)[0]) == int(((D <= ri) & far).sum()) // 2


@pytest.mark.parametrize("w,k", [(0, 1), (0, 4), (6, 1), (6, 3)])
def test_nearest_neighbours_brute_force(w, k):
    P = torch.rand(300, 2, dtype=F64, generator=torch.Generator().manual_seed(2))
    d, j = nearest_neighbours(P, k=k, theiler=w, chunk=400)
    ref_d, ref_j = torch.sort(torch.cdist(P, P).masked_fill(~_far(300, w), math.inf), dim=1)
    assert torch.equal(j, ref_j[:, :k])
    torch.testing.assert_close(d, ref_d[:, :k], rtol=1e-12, atol=1e-12)


def test_neighbour_pairs_brute_force_and_chunks():
    P = torch.rand(500, 2, dtype=F64, generator=torch.Generator().manual_seed(3))
    ref = ((torch.cdist(P, P) <= 0.1) & _far(500, 4)).nonzero()
    chunks = list(neighbour_pairs(P, 0.1, theiler=4, chunk=200))
    assert len(chunks) > 5 and all(len(i) <= 200 + 60 for i, _ in chunks)      # a chunk ends at the row that crosses `chunk`
    got = torch.from_numpy(np.concatenate([np.stack([i, j], 1) for i, j in chunks]))
    got = got[torch.argsort(got[:, 0] * 500 + got[:, 1])]
    assert torch.equal(got, ref)


def _lines_direct(R):
    "Diagonal and vertical line-length histograms of a full matrix, one line at a time."
    T = len(R)
    dh, vh = np.zeros(T + 1, dtype=np.int64), np.zeros(T + 1, dtype=np.int64)
    def count(line, h):
        run = 0
        for v in list(line) + [False]:
            if v: run += 1
            elif run: h[run] += 1; run = 0
    for k in range(-T + 1, T): count(np.diagonal(R, k), dh)
    for j in range(T): count(R[:, j], vh)
    return dh, vh


@pytest.mark.parametrize("p,w,eps", [(math.inf, 0, 1.5), (2, 2, 2.0), (math.inf, 5, 3.0)])
def test_recurrence_lines_brute_force(p, w, eps):
    X = torch.cumsum(torch.randn(250, 2, dtype=F64, generator=torch.Generator().manual_seed(4)), 0)
    R = (torch.cdist(X, X, p=p) <= eps) & _far(250, w)
    dh, vh = recurrence_lines(X, eps, theiler=w, p=p, chunk=3000)
    rd, rv = _lines_direct(R.numpy())
    assert np.array_equal(dh.numpy(), rd) and np.array_equal(vh.numpy(), rv)
    n = int(R.sum())
    assert int((torch.arange(251) * dh).sum()) == n == int((torch.arange(251) * vh).sum()) == 2 * int(pair_counts(X, eps, theiler=w, p=p)[0])


def test_memory_bounded_for_1e5_samples():
    "Neighbour kernels on a 1e5-sample series stay within a few MB of Python-visible allocations (no T x T anything)."
    import tracemalloc
    x = torch.randn(100_000, dtype=F64, generator=torch.Generator().manual_seed(0))
    E = torch.stack([x[:-1], x[1:]], 1)
    tracemalloc.start()
    c = pair_counts(E, [0.01, 0.05], theiler=2)
    d, j = nearest_neighbours(E, k=1, theiler=5, chunk=200_000)
    n = sum(len(i) for i, _ in neighbour_pairs(E, 0.02, theiler=5, chunk=100_000))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 60e6, f"peak {peak / 1e6:.1f} MB"
    assert c.shape == (2,) and d.shape == (len(E), 1) and n > 0
    # the counts follow the pair probability of i.i.d. Gaussian pairs: P(|X-Y| <= r) = erf(r / 2) per coordinate
    P = math.erf(0.05 / 2) ** 2
    n_pairs = (len(E) - 2) * (len(E) - 3) / 2
    assert abs(float(c[1]) / n_pairs / P - 1) < 0.02


def test_bad_input_neighbours():
    P = torch.rand(20, 2, dtype=F64)
    with pytest.raises(BadInputError, match="every radius r must be > 0"): pair_counts(P, [0.1, 0.0])
    with pytest.raises(BadInputError, match="too few points"): nearest_neighbours(P, k=3, theiler=9)
    with pytest.raises(BadInputError, match="r must be a finite number > 0"): next(neighbour_pairs(P, float("nan")))
    with pytest.raises(BadInputError, match="eps must be a finite number > 0"): recurrence_lines(P, -1.0)
    with pytest.raises(BadInputError, match="NaN or inf"): recurrence_lines(torch.tensor([[0.0], [float("inf")]]), 1.0)
    with pytest.raises(BadInputError, match="points must be"): pair_counts(torch.rand(3, 3, 3), 0.1)
