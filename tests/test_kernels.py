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
