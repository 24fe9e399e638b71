"The dynbook command: output formats and one-line errors with exit code 2."
import json
import subprocess
import sys

import numpy as np
import pytest

from dynbook.cli import main
from dynbook.systems import names


def run(*args):
    return subprocess.run([sys.executable, "-m", "dynbook.cli", *args], capture_output=True, text=True, timeout=300)


def test_systems_json_lists_catalog(capsys):
    assert main(["systems", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == names()
    assert all({"name", "kind", "dim", "dt", "params", "citation"} <= set(r) for r in rows)


def test_systems_kind_filter(capsys):
    assert main(["systems", "--kind", "map"]) == 0
    out = capsys.readouterr().out
    assert "henon" in out and "lorenz63" not in out


def test_simulate_json_summary(capsys):
    assert main(["simulate", "lorenz63", "--steps", "100", "--batch", "4", "--param", "rho=30", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["shape"] == [4, 101, 3] and s["params"]["rho"] == 30.0 and len(s["final_state"]) == 3
    assert s["t_final"] == pytest.approx(1.0)


def test_simulate_writes_npz_and_csv(tmp_path, capsys):
    assert main(["simulate", "henon", "--steps", "20", "--batch", "2", "--out", str(tmp_path / "h.npz")]) == 0
    z = np.load(tmp_path / "h.npz")
    assert z["x"].shape == (2, 21, 2) and z["t"].shape == (21,)
    assert main(["simulate", "lorenz63", "--steps", "3", "--out", str(tmp_path / "l.csv")]) == 0
    lines = (tmp_path / "l.csv").read_text().splitlines()
    assert lines[0] == "t,batch,x,y,z" and len(lines) == 5


@pytest.mark.parametrize("args,msg", [
    (["simulate", "lorentz", "--steps", "10"], "Did you mean"),
    (["simulate", "lorenz63", "--steps", "-3"], "n_steps must be an integer >= 0"),
    (["simulate", "lorenz63", "--steps", "10", "--dt", "0"], "dt must be positive"),
    (["simulate", "lorenz63", "--steps", "10", "--param", "rho"], "name=value"),
    (["simulate", "lorenz63", "--steps", "10", "--param", "rho=abc"], "not a number"),
    (["simulate", "lorenz63", "--steps", "10", "--param", "__import__('os')=1"], "has no parameter"),
    (["simulate", "lorenz63", "--steps", "10", "--out", "x.txt"], "must end in .npz or .csv"),
    (["simulate", "lorenz63", "--steps", "10", "--batch", "0"], "--batch must be >= 1"),
])
def test_errors_are_one_line_exit_2(args, msg, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("dynbook: error:") and msg in err and "Traceback" not in err


def test_console_entry_point():
    r = run("simulate", "logistic", "--steps", "5", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["shape"] == [6, 1]
    r = run("simulate", "nope", "--steps", "5")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_lyapunov_json(capsys):
    assert main(["lyapunov", "henon", "--time", "5000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["exponents"][0] == pytest.approx(0.41922, abs=0.01)
    assert sum(out["exponents"]) == pytest.approx(np.log(0.3), abs=1e-9)
    assert out["reference"]["source"] == "sprott2003"


@pytest.mark.parametrize("args,msg", [
    (["lyapunov", "kuramoto_sivashinsky"], "PDE"),
    (["lyapunov", "henon", "--time", "-1"], "--time must be positive"),
    (["lyapunov", "henon", "--k", "5"], "k must be an integer between 1 and dim=2"),
])
def test_lyapunov_errors(args, msg, capsys):
    assert main(args) == 2
    assert msg in capsys.readouterr().err


# ---- dynbook analyze ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lorenz_csv(tmp_path_factory):
    "A Lorenz-63 series (t, batch, x, y, z) of 10^4 steps at dt = 0.01, written by `dynbook simulate`."
    path = tmp_path_factory.mktemp("lorenz") / "lorenz.csv"
    assert main(["simulate", "lorenz63", "--steps", "10000", "--transient", "2000", "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def logistic_series():
    x = np.empty(3000); x[0] = 0.3
    for _ in range(1000): x[0] = 4 * x[0] * (1 - x[0])        # transient
    for i in range(1, len(x)): x[i] = 4 * x[i - 1] * (1 - x[i - 1])
    return x


def test_analyze_lorenz(lorenz_csv, tmp_path, capsys):
    plots = tmp_path / "plots"
    assert main(["analyze", str(lorenz_csv), "--dt", "0.01", "--json", "--plots", str(plots)]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    e = out["estimates"]
    assert out["series"] == "x" and out["n_samples"] == 10001
    assert abs(e["lambda1"]["value"] - 0.906) < 0.15 * 0.906             # Lorenz-63 λ1 = 0.906 (Sprott 2003)
    assert abs(e["correlation_dimension"]["value"] - 2.05) < 0.15         # D2 = 2.05 (Grassberger & Procaccia 1983)
    assert e["zero_one"]["value"] > 0.9 and e["delay"]["value"] > 1 and e["dim"]["value"] == 3
    assert 0 < e["sample_entropy"]["value"] < 1 and 0 < e["permutation_entropy"]["value"] < 1
    assert "λ1 (Rosenstein)" in cap.err                                    # progress on stderr
    assert json.loads((plots / "analysis.json").read_text())["estimates"]["lambda1"]["value"] == e["lambda1"]["value"]
    for k in ("delay", "dim", "lambda1", "correlation_dimension", "zero_one"):
        assert (plots / f"{k}.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(out["plots"]) == sorted(str(p) for p in plots.glob("*.png"))


def test_analyze_logistic(logistic_series, tmp_path, capsys):
    np.savetxt(tmp_path / "logistic.csv", logistic_series)                # no header
    assert main(["analyze", str(tmp_path / "logistic.csv"), "--dt", "1", "--delay", "1", "--json", "--quiet"]) == 0
    cap = capsys.readouterr()
    e = json.loads(cap.out)["estimates"]
    assert cap.err == ""
    assert e["zero_one"]["value"] > 0.9
    assert abs(e["lambda1"]["value"] - np.log(2)) < 0.07                   # logistic r = 4: λ = ln 2
    np.savez(tmp_path / "l.npz", t=np.arange(3000), u=np.stack([logistic_series, -logistic_series], 1))
    assert main(["analyze", str(tmp_path / "l.npz"), "--dt", "1", "--column", "1", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["series"] == "u[:, 1]" and out["estimates"]["zero_one"]["value"] > 0.9


def test_analyze_table_from_shell(logistic_series, tmp_path):
    (tmp_path / "s.csv").write_text("time,value\n" + "\n".join(f"{i},{float(v)!r}" for i, v in enumerate(logistic_series)))
    r = run("analyze", str(tmp_path / "s.csv"), "--dt", "1", "--delay", "1", "--dim", "2")
    assert r.returncode == 0, r.stderr
    assert "0-1 test K" in r.stdout and "delay 1 samples (given)" in r.stdout and "dim 2 (given)" in r.stdout
    assert "using column 'value'" in r.stderr and "Traceback" not in r.stderr


def _bad_files(d, x):
    (d / "x.csv").write_text("a,b\n" + "\n".join(f"{v},{2 * v}" for v in x[:500]))
    (d / "nan.csv").write_text("a\n" + "\n".join(str(v) for v in x[:300]) + "\nnan\n")
    (d / "inf.csv").write_text("\n".join(str(v) for v in x[:300]) + "\ninf\n")
    (d / "gap.csv").write_text("a,b\n" + "\n".join(f"{v},{v}" for v in x[:300]) + "\n,1\n")
    (d / "text.csv").write_text("a\n" + "\n".join(str(v) for v in x[:300]) + "\nabc\n")
    (d / "short.csv").write_text("\n".join(str(v) for v in x[:50]))
    (d / "const.csv").write_text("\n".join("1.5" for v in x[:300]))
    (d / "x.txt").write_text("1\n2\n")
    np.savez(d / "x.npz", t=np.arange(300), u=np.stack([x[:300], x[:300]], 1))


@pytest.mark.parametrize("args,msg", [
    (["missing.csv"], "missing.csv: no such file"),
    (["x.txt"], "unknown extension '.txt'"),
    (["x.csv", "--column", "c"], "no such column; its columns are a, b"),
    (["x.csv", "--column", "2"], "has 2 columns (indices 0..1)"),
    (["short.csv", "--column", "x"], "has no header row"),
    (["x.npz", "--column", "v"], "has no array 'v'"),
    (["x.npz", "--column", "3"], "array 'u' has 2 columns"),
    (["nan.csv"], "NaN, inf or missing, the first at sample 300 (line 302)"),
    (["inf.csv"], "NaN, inf or missing"),
    (["gap.csv", "--column", "a"], "NaN, inf or missing"),
    (["text.csv"], "'abc' is not a number"),
    (["short.csv"], "50 samples is too short; dynbook analyze needs at least 200"),
    (["const.csv"], "is constant"),
    (["x.csv", "--dt", "0"], "--dt must be a finite number > 0"),
    (["x.csv", "--dt", "-0.1"], "--dt must be a finite number > 0"),
    (["x.csv", "--dt", "nan"], "--dt must be a finite number > 0"),
    (["x.csv", "--dim", "0"], "--dim must be an integer >= 1"),
])
def test_analyze_bad_input(args, msg, logistic_series, tmp_path, capsys, monkeypatch):
    _bad_files(tmp_path, logistic_series)
    monkeypatch.chdir(tmp_path)
    if "--dt" not in args: args = args + ["--dt", "1"]
    assert main(["analyze", *args]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("dynbook: error:") and msg in err and "Traceback" not in err, err


def test_analyze_estimator_failure_is_reported(logistic_series, tmp_path, capsys):
    "A valid series too short for one estimator: its row says why, the others are computed."
    np.savetxt(tmp_path / "s.csv", logistic_series[:250])
    assert main(["analyze", str(tmp_path / "s.csv"), "--dt", "1", "--delay", "30", "--json", "--quiet"]) == 0
    e = json.loads(capsys.readouterr().out)["estimates"]
    assert e["dim"]["value"] is None and "too short for false nearest neighbours" in e["dim"]["error"]
    assert e["lambda1"]["value"] is None and "pass --dim" in e["lambda1"]["error"]
    assert main(["analyze", str(tmp_path / "s.csv"), "--dt", "1", "--delay", "30", "--dim", "9", "--json", "--quiet"]) == 0
    e = json.loads(capsys.readouterr().out)["estimates"]
    assert e["lambda1"]["value"] is None and "too few embedded points" in e["lambda1"]["error"]
    assert e["zero_one"]["value"] > 0.5 and e["sample_entropy"]["value"] > 0


def test_bench_subcommand_dispatch(capsys):
    "`dynbook bench` reaches the benchmark's parser: bad names are refused with exit code 2 and the valid ones listed."
    from dynbook.cli import main
    assert main(["bench", "--methods", "persistance", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'persistence'" in err and "climatology" in err
    assert main(["bench", "--systems", "lorentz99", "--no-progress"]) == 2
    assert "lorenz63" in capsys.readouterr().err


def test_bench_listed_in_help(capsys):
    from dynbook.cli import main
    with pytest.raises(SystemExit): main(["-h"])
    assert "bench" in capsys.readouterr().out
