"operators: spectral convolution against a plain complex implementation (hypothesis), compiled == eager, resolution independence, the 2-D vorticity solver against exact solutions, the Lorenz-96 pieces against the catalog, checkpoints, the forecaster protocol, bad input."
import math
import os

import pytest
import torch
from hypothesis import given, settings, strategies as st

from dynbook.core import BadInputError
from dynbook.forecast import make, registry_entry, relative_l2
from dynbook.kernels import compiler_available
from dynbook.operators import (FNO, FNOForecaster, L96Closure, PolynomialClosure, check_periodic, fit_operator,
                               gaussian_random_field, l96_resolved, l96_two_scale_data, ns_forcing,
                               spectral_conv, vorticity_2d)
from dynbook.systems import get

F64 = torch.float64


def naive_spectral_conv(x, W, modes):
    "Plain complex reference: fftn, einsum on the kept corner blocks, zero elsewhere, ifftn."
    d = len(modes)
    grid = x.shape[2:]
    xf = torch.fft.rfftn(x, dim=tuple(range(2, 2 + d)))
    out = torch.zeros(x.shape[0], W.shape[-1], *xf.shape[2:], dtype=xf.dtype)
    Wb = W.reshape(*[2 * m for m in modes[:-1]], modes[-1], *W.shape[1:])
    import itertools
    for signs in itertools.product((0, 1), repeat=d - 1):
        sl = [slice(0, m) if s == 0 else slice(n - m, n) for s, m, n in zip(signs, modes[:-1], grid[:-1])] + [slice(0, modes[-1])]
        wsl = [slice(0, m) if s == 0 else slice(m, 2 * m) for s, m in zip(signs, modes[:-1])] + [slice(0, modes[-1])]
        blk = xf[(slice(None), slice(None)) + tuple(sl)]
        w = Wb[tuple(wsl)]
        letters = "xyzw"[:d]
        out[(slice(None), slice(None)) + tuple(sl)] = torch.einsum(f"bi{letters},{letters}io->bo{letters}", blk, w)
    return torch.fft.irfftn(out, s=grid, dim=tuple(range(2, 2 + d)))


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 2), m=st.integers(1, 5), extra=st.integers(0, 7), c=st.integers(1, 3), co=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_spectral_conv_matches_complex_reference(d, m, extra, c, co, seed):
    g = torch.Generator().manual_seed(seed)
    modes = (m,) * d
    n = 2 * m + extra
    x = torch.randn(2, c, *([n] * d), generator=g, dtype=F64)
    M = math.prod(2 * mm for mm in modes[:-1]) * modes[-1]
    wr, wi = torch.randn(2, M, c, co, generator=g, dtype=F64)
    ours = spectral_conv(x, wr, wi, modes)
    ref = naive_spectral_conv(x, torch.complex(wr, wi), modes)
    assert torch.allclose(ours, ref, atol=1e-11, rtol=0)


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 6), factor=st.sampled_from([2, 3, 4]), seed=st.integers(0, 10**6))
def test_spectral_conv_is_resolution_independent(m, factor, seed):
    "A band-limited field on n and on factor·n points: the outputs agree at the shared points."
    g = torch.Generator().manual_seed(seed)
    n = 2 * m + 4
    x = torch.randn(1, 2, n, generator=g, dtype=F64)
    xf = torch.fft.rfft(x); xf[..., m:] = 0
    x = torch.fft.irfft(xf, n=n)
    fine = torch.fft.irfft(torch.fft.rfft(x), n=factor * n) * factor
    wr, wi = torch.randn(2, m, 2, 3, generator=g, dtype=F64)
    assert torch.allclose(spectral_conv(fine, wr, wi, (m,))[..., ::factor], spectral_conv(x, wr, wi, (m,)), atol=1e-11)


def test_2d_fourier_layer_is_resolution_independent():
    "A trigonometric polynomial (|k_x|, k_y < 3) sampled on 12² and 24² points: the outputs agree at the shared points."
    g = torch.Generator().manual_seed(0)
    def field(n):
        x = torch.arange(n, dtype=F64) / n
        X, Y = torch.meshgrid(x, x, indexing="ij")
        gg = torch.Generator().manual_seed(1)
        out = torch.zeros(n, n, dtype=F64)
        for kx in range(-2, 3):
            for ky in range(0, 3):
                a, b = torch.randn(2, generator=gg, dtype=F64)
                out += a * torch.cos(2 * math.pi * (kx * X + ky * Y)) + b * torch.sin(2 * math.pi * (kx * X + ky * Y))
        return out[None, None]
    wr, wi = torch.randn(2, 6 * 3, 1, 2, generator=g, dtype=F64)
    assert torch.allclose(spectral_conv(field(24), wr, wi, (3, 3))[..., ::2, ::2], spectral_conv(field(12), wr, wi, (3, 3)), atol=1e-11)


@pytest.mark.skipif(not compiler_available(), reason="no C++ compiler for torch.compile")
def test_compiled_equals_eager():
    torch.manual_seed(0)
    net = FNO(4, width=8, layers=2, compile=True)
    x = gaussian_random_field(32, 3, seed=0, dtype=torch.float32)[:, None]
    out_c = net._run(x); out_e = net.forward_eager(x)
    assert torch.allclose(out_c, out_e, atol=1e-5, rtol=1e-5)
    gc = torch.autograd.grad(out_c.square().sum(), net.wr[0])[0]
    ge = torch.autograd.grad(net.forward_eager(x).square().sum(), net.wr[0])[0]
    assert torch.allclose(gc, ge, atol=1e-5, rtol=1e-4)


def test_gaussian_random_field_variance():
    u = gaussian_random_field(32, 4000, alpha=2.0, tau=5.0, sigma=25.0, seed=0)
    k = torch.fft.fftfreq(32, 1 / 32, dtype=F64)
    lam = 625 * ((2 * math.pi * k) ** 2 + 25) ** -2.0; lam[0] = 0
    assert abs(float(u.var(0).mean()) / float(lam.sum()) - 1) < 0.05
    assert torch.equal(gaussian_random_field(16, 2, seed=3), gaussian_random_field(16, 2, seed=3))


def test_vorticity_exact_solutions():
    x = torch.arange(16, dtype=F64) / 16
    w = torch.sin(2 * math.pi * 2 * x)[None].expand(16, 16).clone()           # one wavevector: advection vanishes
    out = vorticity_2d(w, 20, dt=0.05, nu=0.02, forcing=torch.zeros(16, 16))
    assert torch.allclose(out[-1], w * math.exp(-0.02 * (4 * math.pi) ** 2 * 1.0), atol=1e-10)
    out = vorticity_2d(torch.zeros(2, 16, 16, dtype=F64), 40, dt=0.05, nu=0.05)
    lk = 0.05 * 2 * (2 * math.pi) ** 2
    assert torch.allclose(out[-1], (ns_forcing(16) / lk * (1 - math.exp(-lk * 2.0))).expand(2, 16, 16), atol=1e-10)


def test_vorticity_conserves_mean_and_dealiased_energy_decays_unforced():
    w0 = gaussian_random_field(32, 2, dim=2, alpha=2.5, tau=7.0, sigma=7 ** 0.75, seed=0)
    out = vorticity_2d(w0, 50, dt=0.02, nu=1e-2, forcing=torch.zeros(32, 32))
    assert torch.allclose(out[-1].mean((-1, -2)), w0.mean((-1, -2)), atol=1e-12)
    ens = (out ** 2).mean((-1, -2))
    assert bool((ens[1:] <= ens[:-1] + 1e-12).all())     # enstrophy decays without forcing (2-D)


def test_l96_pieces_match_the_catalog():
    s = get("lorenz96_two_scale", k=8, j=4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 8 + 32, generator=g, dtype=F64) * 3
    p = s.params
    U = -(p["h"] * p["c"] / p["b"]) * x[:, 8:].unflatten(-1, (8, 4)).sum(-1)
    assert torch.allclose(s.rhs(x)[:, :8], l96_resolved(x[:, :8], p["F"]) + U, atol=1e-12)
    assert torch.allclose(get("lorenz96", n=8).rhs(x[:, :8], dict(F=10.0)), l96_resolved(x[:, :8], 10.0), atol=1e-12)


def test_l96_data_and_closures(tmp_path):
    X, U = l96_two_scale_data(n_traj=2, steps=400, dt=0.005, save_every=5, transient=100, k=16, j=4)
    assert X.shape == U.shape == (2, 81, 16)
    poly = PolynomialClosure(3).fit(X, U)
    assert poly.coef_.shape == (4,)
    clo = L96Closure(modes=4, width=8, layers=1)
    log = clo.fit(X, U, steps=30, batch_size=16)
    assert len(log) == 30
    run = clo.run(X[:, -1], steps=20, save_every=5)
    assert run.shape == (2, 5, 16) and bool(torch.isfinite(run).all())
    clo.save(tmp_path / "c.pt")
    back = L96Closure.load(tmp_path / "c.pt")
    assert torch.equal(back(X[0]), clo(X[0]))
    with pytest.raises(BadInputError, match="fewer than 2×modes"): clo(X[0, :, :6])


def test_checkpoint_round_trip_and_rejection(tmp_path):
    net = FNO((4, 3), width=6, layers=2, compile=False).eval()
    x = gaussian_random_field(12, 2, dim=2, seed=0, dtype=torch.float32)[:, None]
    net.save(tmp_path / "f.pt", meta={"a": 1})
    back = FNO.load(tmp_path / "f.pt")
    with torch.no_grad(): assert torch.equal(back(x), net(x))
    assert back.config() == net.config() and back.meta == {"a": 1}
    torch.save({"format": "dynbook.fno", "version": 0}, tmp_path / "v0.pt")
    with pytest.raises(BadInputError, match="version-0"): FNO.load(tmp_path / "v0.pt")

    class Evil:   # a pickled object: weights_only loading refuses it
        def __reduce__(self): return (os.getcwd, ())
    torch.save({"format": "dynbook.fno", "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(BadInputError, match="not a readable dynbook checkpoint"): FNO.load(tmp_path / "evil.pt")


def test_fit_operator_learns_a_shift():
    "A translation is a diagonal operator in Fourier space: an FNO learns it well."
    u = gaussian_random_field(32, 64, seed=0)
    v = torch.roll(u, 5, -1)
    net = FNO(8, width=8, layers=1, compile=False)
    before = float(relative_l2(net(u[:, None].float()).detach()[:, 0], v.float(), per_sample=True).mean())
    fit_operator(net, u, v, steps=150, batch_size=16, lr=1e-2)
    with torch.no_grad(): after = float(relative_l2(net(u[:, None].float())[:, 0], v.float(), per_sample=True).mean())
    assert after < 0.3 * before


def test_forecaster_protocol_and_checkpoint(tmp_path):
    ks = get("kuramoto_sivashinsky", n=64)
    from dynbook.simulate import simulate
    tr = simulate(ks, 120, transient=200, progress=False).x
    tr = tr / tr.std()
    f = make("fno", modes=6, width=8, layers=1, steps=20, batch_size=8).fit(tr, 0.25)
    assert f.predict(tr[:10], 7).shape == (7, 64)
    assert f.predict(torch.stack([tr[:10], tr[5:15]]), 3).shape == (2, 3, 64)
    f.save(tmp_path / "fc.pt")
    g = FNOForecaster.load(tmp_path / "fc.pt")
    assert torch.equal(g.predict(tr[:10], 5), f.predict(tr[:10], 5))
    assert registry_entry("fno").family == "operators" and registry_entry("fno").kinds == ("pde",)
    from dynbook.bench import methods_all
    assert "fno" not in methods_all()


def test_bad_input():
    net = FNO(8, width=4, layers=1, compile=False).eval()
    with pytest.raises(BadInputError, match="fewer than 2×modes = 16"): net(torch.zeros(1, 1, 15))
    with pytest.raises(BadInputError, match="takes"): net(torch.zeros(1, 2, 32))
    with pytest.raises(BadInputError, match="not periodic"): net(torch.linspace(0, 1, 32)[None, None])
    x = torch.zeros(1, 1, 32); x[0, 0, 3] = float("inf")
    with pytest.raises(BadInputError, match="NaN or inf"): net(x)
    net.train()   # in training mode only the (free) shape checks run
    assert net(torch.linspace(0, 1, 32)[None, None]).shape == (1, 1, 32)
    with pytest.raises(BadInputError, match="not to low-dimensional flows"):
        make("fno").fit(torch.randn(100, 3, dtype=F64), 0.01)
    with pytest.raises(BadInputError, match="not periodic"):
        check_periodic(torch.stack([torch.sin(torch.arange(20.0)), torch.arange(20.0)]))
    with pytest.raises(BadInputError): gaussian_random_field(16, 2, alpha=-1)
    with pytest.raises(BadInputError, match="multiple of dt"):
        from dynbook.operators import burgers_data
        burgers_data(2, n=32, t_final=0.0015, dt=1e-3)
