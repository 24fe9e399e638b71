"Forecaster.save / Forecaster.load for every registered flow forecaster (dynbook.core.pack / unpack), and what cannot be saved."
import pytest
import torch

from dynbook import bench
from dynbook.core import BadInputError, pack, unpack, save_checkpoint
from dynbook.forecast import Forecaster, available, make, registry_entry
from dynbook.simulate import simulate

bench.load_families()
NAMES = [n for n in available(kind="flow") if registry_entry(n).family != "test"]
SMALL = dict(mlp=dict(steps=5), koopman_ae=dict(steps=5), neural_ode=dict(steps=5), mamba=dict(steps=2), s4d=dict(steps=2),
             gtf_rnn=dict(steps=5), lstm=dict(steps=5))


@pytest.fixture(scope="module")
def lorenz():
    x = simulate("lorenz63", 600, dt=0.02, x0=torch.tensor([1.0, 1.0, 20.0], dtype=torch.float64), transient=100, compile=False).x
    return (x - x.mean(0)) / x.std(0)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_predicts_the_same(name, lorenz, tmp_path):
    f = make(name, **SMALL.get(name, {})).fit([lorenz[:500]], 0.02)
    f.save(tmp_path / "f.pt")
    g = Forecaster.load(tmp_path / "f.pt")
    assert type(g) is type(f) and g.name == name and g is not f
    torch.testing.assert_close(g.predict(lorenz[500:560], 10), f.predict(lorenz[500:560], 10), rtol=0, atol=0)
    assert type(f).load(tmp_path / "f.pt").dim_ == 3


def test_checkpoint_errors(lorenz, tmp_path):
    with pytest.raises(BadInputError, match="fit the forecaster before save"): make("linear_ar").save(tmp_path / "u.pt")
    make("linear_ar").fit([lorenz[:300]], 0.02).save(tmp_path / "ar.pt")
    esn = type(make("esn"))
    with pytest.raises(BadInputError, match="holds a LinearAR forecaster, not a ESN"): esn.load(tmp_path / "ar.pt")
    f = make("persistence").fit([lorenz[:300]], 0.02)
    f.hook = lambda x: x                                    # a user's attribute that cannot be saved
    with pytest.raises(BadInputError, match=r"cannot save persistence\.hook: a function"): f.save(tmp_path / "p.pt")
    # a file that names a class outside dynbook / torch.nn is refused before anything is built
    save_checkpoint(tmp_path / "evil.pt", "dynbook.forecaster", name="x",
                    forecaster={"__dynbook_pack__": "object", "class": "subprocess:Popen", "state": {}})
    with pytest.raises(BadInputError, match="outside dynbook and torch.nn"): Forecaster.load(tmp_path / "evil.pt")
    with pytest.raises(BadInputError, match="no checkpoint"): Forecaster.load(tmp_path / "missing.pt")


def test_pack_roundtrip_shares_and_sets():
    lin = torch.nn.Linear(2, 2)
    back = unpack(pack({"a": lin, "b": lin, "s": {1, 2}, "t": (1, "x", None)}))
    assert back["a"] is back["b"] and back["s"] == {1, 2} and back["t"] == (1, "x", None)
    torch.testing.assert_close(back["a"].weight, lin.weight)


class _Drift(Forecaster):
    "a user's own forecaster, defined outside dynbook: the mean step, repeated"
    def _fit(self, trajectories, dt): self.step_ = torch.cat([t.diff(dim=0) for t in trajectories]).mean(0)
    def _predict(self, context, horizon):
        return context[:, -1:] + self.step_ * torch.arange(1, horizon + 1, dtype=context.dtype)[None, :, None]


def test_user_forecaster_class_round_trips(lorenz, tmp_path):
    f = _Drift().fit([lorenz[:300]], 0.02)
    f.save(tmp_path / "d.pt")
    g = _Drift.load(tmp_path / "d.pt")                     # found in this (already imported) test module
    assert type(g) is _Drift
    torch.testing.assert_close(g.predict(lorenz[300:310], 4), f.predict(lorenz[300:310], 4), rtol=0, atol=0)
