"""dynbook.bench: resume after an interruption, Dask == local processes, failing methods, bad names."""
import os
import shutil

import pytest
import torch

from dynbook import forecast as fc
from dynbook.core import BadInputError
from dynbook import bench
from dynbook.bench import Task, run_sweep, leaderboard, read_records, bench_main, check_systems, check_methods

SYSTEMS = ["sprott_b", "lorenz84"]          # the cheapest quick-preset flows to simulate
METHODS = ["persistence", "climatology", "linear_ar"]


@fc.register("test_raises", family="test")
class _Raises(fc.Forecaster):
    def _fit(self, trajectories, dt): raise RuntimeError("boom in fit")


@fc.register("test_nan", family="test")
class _NaN(fc.Forecaster):
    def _fit(self, trajectories, dt): pass
    def _predict(self, context, horizon): return torch.full((context.shape[0], horizon, context.shape[-1]), float("nan"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "An uninterrupted sweep (in this process): its folder and leaderboard; other sweeps reuse its cached data."
    out = tmp_path_factory.mktemp("ref")
    board = run_sweep(SYSTEMS, METHODS, seeds=1, settings=("standard", "data_limited"), out=out, n_workers=0, progress=False)
    return out, board


def _copy_data(src, dst):
    "Reuse the cached simulations (the data cache is part of the resume design) to keep the tests short."
    shutil.copytree(os.path.join(src, "data"), os.path.join(dst, "data"))


def test_reference_sweep(reference):
    out, board = reference
    recs = read_records(out)
    assert len(recs) == 2 * 3 * 2 and all(r["status"] == "ok" for r in recs)
    assert all(set(r["metrics"]) >= {"vpt", "mse", "smape", "histogram_kl"} for r in recs)
    assert "| method |" in board.to_markdown() and board.to_csv().startswith("setting,method,metric,median")


def test_resume_after_interruption(reference, tmp_path, monkeypatch):
    ref_out, ref_board = reference
    _copy_data(ref_out, tmp_path)
    real, calls = bench.run_task, []
    def dies_after_five(*args):
        if len(calls) == 5: raise KeyboardInterrupt   # a kill in the middle of the sweep
        calls.append(1); return real(*args)
    monkeypatch.setattr(bench, "run_task", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(SYSTEMS, METHODS, 1, ("standard", "data_limited"), out=tmp_path, n_workers=0, progress=False)
    assert len(read_records(tmp_path)) == 5
    # a half-written temporary file from a killed writer must not count as a record
    (tmp_path / "records" / "sprott_b__mlp__s0__standard__n0.json.tmp.123").write_text('{"key": "sprott_b__ml')
    ran = []
    monkeypatch.setattr(bench, "run_task", lambda *a: ran.append(a[0].key) or real(*a))
    board = run_sweep(SYSTEMS, METHODS, 1, ("standard", "data_limited"), out=tmp_path, n_workers=0, progress=False)
    assert len(ran) == 12 - 5                                      # nothing finished is recomputed
    keys = [r["key"] for r in read_records(tmp_path)]
    assert len(keys) == len(set(keys)) == 12                       # exactly one record per task
    assert board.to_csv() == ref_board.to_csv()                    # the same table as the uninterrupted run
    assert board.to_markdown() == ref_board.to_markdown()


def test_no_resume_recomputes(reference, tmp_path, monkeypatch):
    ref_out, _ = reference
    _copy_data(ref_out, tmp_path)
    run_sweep(["sprott_b"], ["persistence"], out=tmp_path, n_workers=0, progress=False)
    real, ran = bench.run_task, []
    monkeypatch.setattr(bench, "run_task", lambda *a: ran.append(1) or real(*a))
    run_sweep(["sprott_b"], ["persistence"], out=tmp_path, n_workers=0, progress=False, resume=False)
    assert ran == [1] and len(read_records(tmp_path)) == 1


def test_failing_methods_recorded(reference, tmp_path):
    ref_out, _ = reference
    _copy_data(ref_out, tmp_path)
    board = run_sweep(["sprott_b"], ["persistence", "test_raises", "test_nan", "linear_ar"], out=tmp_path, n_workers=0, progress=False)
    recs = {r["method"]: r for r in read_records(tmp_path)}
    assert recs["test_raises"]["status"] == "failed" and "boom in fit" in recs["test_raises"]["error"]
    assert recs["test_nan"]["status"] == "failed" and "not finite" in recs["test_nan"]["error"]
    assert recs["persistence"]["status"] == recs["linear_ar"]["status"] == "ok"   # the sweep went on
    assert len(board.failed) == 2
    row = [r for r in board.rows(["vpt"]) if r["method"] == "test_nan"][0]
    assert row["n_failed"] == 1 and row["n_systems"] == 0


def _close(a, b, rel=1e-12):
    "Metrics equal up to rounding: torch's vectorised reductions may round differently in another process."
    return a.keys() == b.keys() and all(
        a[k].keys() == b[k].keys() and all((x is None and y is None) or abs(x - y) <= rel * max(1.0, abs(y))
                                           for x, y in ((a[k][m], b[k][m]) for m in a[k])) for k in a)


def test_processes_and_dask_give_the_same_table(reference, tmp_path):
    pytest.importorskip("distributed")
    ref_out, ref_board = reference
    want = leaderboard(ref_out, [Task("sprott_b", m, 0, s) for m in METHODS for s in ("standard", "data_limited")])
    ref = {r["key"]: r["metrics"] for r in want.records}
    # local worker processes (spawned; they simulate the data themselves) ...
    procs = run_sweep(["sprott_b"], METHODS, 1, ("standard", "data_limited"), out=tmp_path / "procs", n_workers=2, progress=False)
    assert procs.to_csv() == want.to_csv() and procs.to_markdown() == want.to_markdown()
    assert _close({r["key"]: r["metrics"] for r in procs.records}, ref)
    # ... and a Dask LocalCluster started here (data from the cache, shipped to the workers)
    _copy_data(ref_out, tmp_path / "dask")
    dask = run_sweep(["sprott_b"], METHODS, 1, ("standard", "data_limited"), out=tmp_path / "dask", scheduler="local",
                     n_workers=2, progress=False)
    assert dask.to_csv() == want.to_csv() and dask.to_markdown() == want.to_markdown()
    assert _close({r["key"]: r["metrics"] for r in dask.records}, ref)
    assert len(read_records(tmp_path / "dask")) == 6


def test_bad_names():
    with pytest.raises(BadInputError, match="lorenz63"): check_systems(["lorenz6"])
    with pytest.raises(BadInputError, match="Valid methods"): check_methods(["persistance"])
    with pytest.raises(BadInputError, match="setting"): Task("lorenz63", "mlp", setting="big")


def test_bench_main_bad_names(capsys, tmp_path):
    assert bench_main(["--systems", "lorenz63,lorenz6", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "lorenz6" in err and "lorenz63" in err and "Valid systems" in err
    assert bench_main(["--methods", "nope", "--out", str(tmp_path)]) == 2
    assert "Valid methods" in capsys.readouterr().err
    assert bench_main(["--preset", "huge", "--out", str(tmp_path)]) == 2
    assert bench_main(["--seeds", "x"]) == 2                      # argparse's own error, as an exit code
    assert not os.path.exists(tmp_path / "records")                # nothing ran


def test_bench_main_runs(reference, tmp_path, capsys):
    ref_out, _ = reference
    _copy_data(ref_out, tmp_path)
    assert bench_main(["--systems", "sprott_b", "--methods", "persistence", "linear_ar", "--out", str(tmp_path),
                       "--workers", "0", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "| linear_ar |" in text and "vpt_lyapunov.png" in text
    for f in ("leaderboard.md", "leaderboard.csv", "vpt_lyapunov.png", "vpt_training.png"): assert (tmp_path / f).exists()
    assert len(leaderboard(tmp_path).records) == 2


def test_dask_missing_is_a_clear_error(monkeypatch, tmp_path):
    import sys
    monkeypatch.setitem(sys.modules, "distributed", None)          # as if Dask were not installed
    with pytest.raises(BadInputError, match="pip install"):
        run_sweep(["sprott_b"], ["persistence"], out=tmp_path, scheduler="local", progress=False)
