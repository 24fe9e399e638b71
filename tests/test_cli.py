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
