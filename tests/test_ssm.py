"ssm: HiPPO matrices, discretisation, S4D conv == recurrent, selective scan (chunked/compiled == sequential, hypothesis), Mamba step == forward, LTC boundedness (hypothesis), HiPPO-Prophecy, forecasters, recurrence Lyapunov exponents, bad input."
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from dynbook.core import BadInputError
from dynbook.forecast import available, make, registry_entry
from dynbook.ssm import (HiPPO, HiPPOProphecy, LTCCell, MambaBlock, S4D, SSMNet, discretize, hippo, online_projection,
                         recurrence_lyapunov, selective_scan, selective_scan_ref)
from dynbook.simulate import simulate


def scan_inputs(b, L, d, n, seed=0, dtype=torch.float32, dscale=1.0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)
    return (r(b, L, d), dscale * F.softplus(r(b, L, d) - 2), -torch.exp(r(d, n)), r(b, L, n), r(b, L, n))


def rel_err(a, b): return float((a - b).abs().max() / b.abs().max().clamp_min(1.0))


# ---------------------------------------------------------------- HiPPO
def test_legs_entries():
    N = 9
    op = hippo("legs", N)
    for n in range(N):
        assert op.B[n] == pytest.approx(math.sqrt(2 * n + 1), abs=1e-14)
        for k in range(N):
            want = -math.sqrt(2 * n + 1) * math.sqrt(2 * k + 1) if n > k else (-(n + 1) if n == k else 0.0)
            assert op.A[n, k] == pytest.approx(want, abs=1e-13)


def test_legs_polynomial_convergence():
    "online LegS projection of a cubic (N=5): the reconstruction error falls monotonically as dt -> 0"
    op, s = hippo("legs", 5), torch.linspace(0, 1, 101, dtype=torch.float64)
    f = lambda t: 2 - t + 3 * t**3
    errs = []
    for dt in (0.05, 0.01, 0.002):
        T = round(1 / dt)
        c = online_projection(f(torch.arange(1, T + 1, dtype=torch.float64) * dt), op, dt)[-1]
        errs.append(float((op.reconstruct(c, s) - f(s)).abs().max()))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.1 * errs[0]


def test_legt_window_reconstruction():
    op = hippo("legt", 12, theta=1.0)
    t = torch.arange(1, 2501, dtype=torch.float64) * 1e-3
    f = torch.sin(2 * math.pi * t)
    c = online_projection(f, op, 1e-3)[-1]
    s = torch.linspace(0, 1, 11, dtype=torch.float64)
    assert float((op.reconstruct(c, s) - torch.sin(2 * math.pi * (1.5 + s))).abs().max()) < 2e-2


@pytest.mark.parametrize("method", ["zoh", "bilinear", "forward", "backward"])
def test_discretize_scalar(method):
    a, b, d = -1.3, 0.7, 0.2
    Ad, Bd = discretize(torch.tensor([[a]], dtype=torch.float64), torch.tensor([b], dtype=torch.float64), d, method=method)
    want = {"zoh": (math.exp(a * d), (math.exp(a * d) - 1) / a * b),
            "bilinear": ((1 + a * d / 2) / (1 - a * d / 2), d * b / (1 - a * d / 2)),
            "forward": (1 + a * d, d * b), "backward": (1 / (1 - a * d), d * b / (1 - a * d))}[method]
    assert float(Ad) == pytest.approx(want[0], rel=1e-12) and float(Bd) == pytest.approx(want[1], rel=1e-12)


def test_discretize_bad_input():
    for dt in (0.0, -0.1, float("nan")):
        with pytest.raises(BadInputError, match="dt must be finite and > 0"): discretize(torch.eye(2), torch.ones(2), dt)
    with pytest.raises(BadInputError, match=r"A has shape \(3, 3\) but B has \(2,\)"): discretize(torch.eye(3), torch.ones(2), 0.1)
    with pytest.raises(BadInputError, match="state sizes differ"): discretize(torch.ones(3), torch.ones(2), 0.1, diagonal=True)
    with pytest.raises(BadInputError, match="NaN"): discretize(torch.full((2, 2), float("nan")), torch.ones(2), 0.1)


# ---------------------------------------------------------------- S4D
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 1000), L=st.integers(1, 600), init=st.sampled_from(["lin", "inv"]))
def test_s4d_conv_equals_recurrent(seed, L, init):
    layer = S4D(4, 32, init=init, seed=seed)
    u = torch.randn(2, L, 4, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        assert rel_err(layer(u), layer(u, mode="recurrent")) < 1e-5


def test_s4d_bad_input():
    layer = S4D(4, 8)
    with pytest.raises(BadInputError, match=r"input must have shape \(B, L, 4\) or \(L, 4\), got \(2, 10, 3\)"): layer(torch.zeros(2, 10, 3))
    with pytest.raises(BadInputError, match="NaN"): layer(torch.full((1, 5, 4), float("nan")))
    with pytest.raises(BadInputError, match="the state has shape"): layer.step(torch.zeros(1, 4, 8, dtype=torch.complex64), torch.zeros(1, 4))
    with pytest.raises(BadInputError, match="dt_min must be finite and > 0"): S4D(4, 8, dt_min=-1.0)


# ---------------------------------------------------------------- selective scan
@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 3), L=st.integers(1, 150), d=st.integers(1, 6), n=st.integers(1, 8), chunk=st.integers(1, 40),
       seed=st.integers(0, 10_000), dscale=st.sampled_from([0.1, 1.0, 10.0]), init=st.booleans())
def test_chunked_scan_equals_sequential(b, L, d, n, chunk, seed, dscale, init):
    u, dl, A, B, C = scan_inputs(b, L, d, n, seed, dscale=dscale)
    D = torch.randn(d, generator=torch.Generator().manual_seed(seed + 1))
    h0 = torch.randn(b, d, n, generator=torch.Generator().manual_seed(seed + 2)) if init else None
    y_ref, h_ref = selective_scan_ref(u, dl, A, B, C, D, h0=h0, return_state=True)
    y, h = selective_scan(u, dl, A, B, C, D, h0=h0, chunk=chunk, compile=False, return_state=True, parallel=True)
    assert rel_err(y, y_ref) < 1e-5 and rel_err(h, h_ref) < 1e-5
    y_log = selective_scan(u, dl, A, B, C, D, h0=h0, logspace=True)
    assert rel_err(y_log, y_ref) < 1e-5
    y_ser, h_ser = selective_scan(u, dl, A, B, C, D, h0=h0, chunk=chunk, compile=False, parallel=False, return_state=True)
    assert rel_err(y_ser, y_ref) < 1e-5 and rel_err(h_ser, h_ref) < 1e-5


def test_compiled_scan_equals_sequential():
    u, dl, A, B, C = scan_inputs(2, 200, 8, 4, seed=3)
    with torch.no_grad():
        y = selective_scan(u, dl, A, B, C, chunk=4, compile=True, parallel=True)     # a short unroll: compiles in seconds
        y_ser = selective_scan(u, dl, A, B, C, chunk=4, compile=True, parallel=False)
    y_ref = selective_scan_ref(u, dl, A, B, C)
    assert rel_err(y, y_ref) < 1e-5 and rel_err(y_ser, y_ref) < 1e-5


def test_scan_bad_input():
    u, dl, A, B, C = scan_inputs(2, 30, 4, 3)
    with pytest.raises(BadInputError, match=r"delta has shape \(2, 29, 4\), u has \(2, 30, 4\)"): selective_scan(u, dl[:, 1:], A, B, C)
    with pytest.raises(BadInputError, match=r"C has shape \(2, 30, 5\), expected \(2, 30, 3\)"): selective_scan(u, dl, A, B, torch.zeros(2, 30, 5))
    with pytest.raises(BadInputError, match=r"A has shape \(4, 3\), u has D=5"): selective_scan(torch.zeros(2, 30, 5), dl, A, B, C)
    with pytest.raises(BadInputError, match=r"h0 has shape \(2, 4, 2\), expected \(2, 4, 3\)"): selective_scan(u, dl, A, B, C, h0=torch.zeros(2, 4, 2))
    bad = dl.clone(); bad[1, 3, 2] = float("nan")
    with pytest.raises(BadInputError, match="delta .* contains NaN"): selective_scan_ref(u, bad, A, B, C)


def test_mamba_block_step_equals_forward():
    blk = MambaBlock(8, d_state=4, seed=1)
    x = torch.randn(2, 37, 8, generator=torch.Generator().manual_seed(0))
    y_train = blk(x)
    with torch.no_grad():
        y = blk(x)
        st_, ys = blk.initial_state(2), []
        for t in range(37):
            yt, st_ = blk.step(x[:, t], st_); ys.append(yt)
    assert rel_err(torch.stack(ys, 1), y) < 1e-5 and rel_err(y_train.detach(), blk(x, scan="reference").detach()) < 1e-5
    with pytest.raises(BadInputError, match=r"got \(2, 37, 5\)"): blk(torch.zeros(2, 37, 5))


# ---------------------------------------------------------------- LTC
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), amp=st.floats(0.1, 100.0), dt=st.floats(0.01, 5.0), unfolds=st.integers(1, 8), units=st.integers(1, 10))
def test_ltc_bounded(seed, amp, dt, unfolds, units):
    cell = LTCCell(3, units, unfolds=unfolds, dt=dt, seed=seed)
    g = torch.Generator().manual_seed(seed)
    u = amp * (2 * torch.rand(2, 60, 3, generator=g) - 1)
    with torch.no_grad():
        lo, hi = cell.bounds()
        x0 = lo + (hi - lo) * torch.rand(2, units, generator=g)
        xs = cell.run(u, x0)
    assert bool(torch.isfinite(xs).all())
    assert bool(((xs >= lo - 1e-5) & (xs <= hi + 1e-5)).all())


# ---------------------------------------------------------------- HiPPO-Prophecy
def test_prophecy_beats_persistence_on_lorenz():
    x = simulate("lorenz63", 6000, dt=0.01, x0=torch.tensor([1.0, 1.0, 20.0], dtype=torch.float64), transient=500, compile=False).x
    starts = range(0, 5800, 100)
    ctx = torch.stack([x[s:s + 100] for s in starts])
    tgt = torch.stack([x[s + 100:s + 110] for s in starts])
    fc = HiPPOProphecy(0.01, N=4).forecast(ctx, 10)
    for h in (1, 2, 5, 10):
        e_p = ((fc[:, h - 1] - tgt[:, h - 1]) ** 2).mean()
        e_0 = ((ctx[:, -1] - tgt[:, h - 1]) ** 2).mean()
        assert e_p < e_0, (h, float(e_p), float(e_0))


def test_prophecy_derivative_of_polynomial():
    "the LegT read-out differentiates a polynomial of degree < N exactly up to discretisation error"
    dt = 1e-3
    t = torch.arange(1, 3001, dtype=torch.float64) * dt
    p = HiPPOProphecy(dt, N=4, theta=0.2)
    d = p.derivative((t ** 2)[:, None])[:, 0]
    assert float((d[500:] - 2 * t[500:]).abs().max()) < 5e-3


@settings(max_examples=15, deadline=None)
@given(st.floats(1.0, 30.0), st.floats(1.0, 30.0), st.floats(0, 6.3), st.floats(0.1, 5.0))
def test_prophecy_context_readout_exact_on_sinusoids(w1, w2, phase, amp):
    "a sinusoid's future is a linear function of its present LegT state, so the in-context read-outs are exact"
    t = torch.arange(630, dtype=torch.float64) * 0.01
    x = torch.stack([amp * torch.sin(w1 * t + phase), torch.cos(w2 * t) + 0.5 * torch.sin(w1 * t)], -1)
    fc = HiPPOProphecy(0.01, N=4).forecast(x[:600], 30, readout="context")
    assert float((fc - x[600:]).abs().max()) < 1e-7 * max(amp, 1.5)


def test_prophecy_context_readout_beats_persistence_on_lorenz():
    x = simulate("lorenz63", 8000, dt=0.01, x0=torch.tensor([-5.0, 3.0, 30.0], dtype=torch.float64), transient=500, compile=False).x
    starts = range(0, 8000 - 1050, 350)
    ctx = torch.stack([x[s:s + 1000] for s in starts])
    tgt = torch.stack([x[s + 1000:s + 1050] for s in starts])
    fc = HiPPOProphecy(0.01, N=4).forecast(ctx, 50, readout="context")
    for h in (1, 5, 20, 50):
        e_p = ((fc[:, h - 1] - tgt[:, h - 1]) ** 2).mean()
        e_0 = ((ctx[:, -1] - tgt[:, h - 1]) ** 2).mean()
        assert e_p < e_0, (h, float(e_p), float(e_0))


def test_prophecy_bad_input():
    p = HiPPOProphecy(0.01, N=4)
    x = torch.randn(200, 3, dtype=torch.float64)
    with pytest.raises(BadInputError, match="readout must be"): p.forecast(x, 5, readout="ridge")
    with pytest.raises(BadInputError, match="needs at least"): p.forecast(x[:40], 30, readout="context")
    with pytest.raises(BadInputError, match="horizon"): p.forecast(x, 0, readout="context")
    bad = x.clone(); bad[7, 1] = float("nan")
    with pytest.raises(BadInputError, match="NaN"): p.forecast(bad, 5, readout="context")
    with pytest.raises(BadInputError, match="dt must be"): HiPPOProphecy(-0.01)


# ---------------------------------------------------------------- Lyapunov exponents of a recurrence
def test_recurrence_lyapunov_linear_map():
    "a fixed linear map: the exponents are the log-moduli of its eigenvalues"
    M = torch.tensor([[0.9, 0.3, 0.0], [0.0, 0.5, 0.2], [0.0, 0.0, 1.2]], dtype=torch.float64)
    r = recurrence_lyapunov(lambda s, t: M @ s, torch.ones(3, dtype=torch.float64), 400, k=3)
    assert torch.allclose(r.exponents, torch.tensor([math.log(1.2), math.log(0.9), math.log(0.5)], dtype=torch.float64), atol=1e-2)


# ---------------------------------------------------------------- forecasters
@pytest.mark.parametrize("name", ["mamba", "s4d"])
def test_forecaster_protocol(name):
    assert name in available("ssm") and registry_entry(name).citation
    x = simulate("lorenz63", 400, dt=0.02, x0=torch.tensor([1.0, 1.0, 20.0], dtype=torch.float64), transient=100, compile=False).x
    x = (x - x.mean(0)) / x.std(0)
    f = make(name, d_model=8, steps=5, window=16).fit([x[:300]], 0.02)
    p = f.predict(x[300:340], 7)
    assert p.shape == (7, 3) and bool(torch.isfinite(p).all())
    assert f.predict(torch.stack([x[300:340], x[340:380]]), 4).shape == (2, 4, 3)
    bad = x[:300].clone(); bad[5, 1] = float("nan")
    with pytest.raises(BadInputError, match="NaN"): make(name, steps=2).fit([bad], 0.02)
    with pytest.raises(BadInputError, match="dt must be positive"): make(name, steps=2).fit([x[:300]], 0.0)
    with pytest.raises(BadInputError, match="burn_in"): make(name, window=8, burn_in=8)


@pytest.mark.parametrize("name", ["mamba", "s4d"])
def test_forecaster_checkpoint_roundtrip(name, tmp_path):
    from dynbook.ssm import SSMForecaster
    x = simulate("lorenz63", 300, dt=0.02, x0=torch.tensor([1.0, 1.0, 20.0], dtype=torch.float64), transient=100, compile=False).x
    x = (x - x.mean(0)) / x.std(0)
    with pytest.raises(BadInputError, match="fit the forecaster"): make(name).save(tmp_path / "u.pt")
    f = make(name, d_model=8, steps=3, window=16).fit([x[:250]], 0.02)
    f.save(tmp_path / "m.pt")
    g = SSMForecaster.load(tmp_path / "m.pt")
    assert type(g) is type(f) and torch.equal(g.predict(x[250:290], 6), f.predict(x[250:290], 6))
    torch.save({"format": "dynbook.fno", "version": 1}, tmp_path / "o.pt")
    with pytest.raises(BadInputError, match="not a dynbook.forecaster checkpoint"): SSMForecaster.load(tmp_path / "o.pt")
