"""KANSpec: the one place the model's arguments are written, checked and stored."""

import json
from pathlib import Path

import pytest
import torch

from kanrun.kan import KAN, KANConfigError, KANLayer, KANSpec, load_model
from kanrun.kan.layer import BASE_FUNCTIONS
from kanrun.kan.spec import spec_fields
from kanrun.pipeline import RunConfigError, check_config
from kanrun.pipeline.schema import ModelConfig, RunConfig

FIXTURE = Path(__file__).parent / "fixtures" / "kan_checkpoint_v1.json"


def test_spec_normalizes_and_round_trips_through_a_dict():
    spec = KANSpec(width=[2, [3, 1], 1], grid=4, mult_arity=3, grid_range=[-2, 2],
                   dtype=torch.float64)
    assert spec.width == ((2, 0), (3, 1), (1, 0))
    assert spec.mult_arity == ((), (3,), ())
    assert spec.grid_range == (-2.0, 2.0) and spec.dtype == "float64"
    assert spec.width_in == [2, 4, 1] and spec.width_subnodes == [2, 6, 1]
    assert KANSpec.from_dict(spec.as_dict()) == spec
    assert spec.replace(width=[2, 1], mult_arity=2).mult_arity == ((), ())
    with pytest.raises(KANConfigError, match="blocks is not a model argument"):
        KANSpec.from_dict({**spec.as_dict(), "blocks": 2})


@pytest.mark.parametrize("change, key", [
    ({"k": -1}, "k"),
    ({"grid": 0}, "grid"),
    ({"grid": 2.5}, "grid"),
    ({"base_fun": "relu6"}, "base_fun"),
    ({"grid_range": (1.0, -1.0)}, "grid_range"),
    ({"dtype": "int8"}, "dtype"),
    ({"width": [2]}, "width"),
    ({"width": [2, [1, 1], [1, 1]]}, "width"),
    ({"mult_arity": 1, "width": [2, [1, 1], 1]}, "mult_arity"),
    ({"seed": -1}, "seed"),
])
def test_every_check_names_its_argument_first(change, key):
    with pytest.raises(KANConfigError) as err:
        KANSpec(**{"width": [2, 3, 1], **change})
    assert err.value.key == key and str(err.value).startswith(key)


def test_order_zero_is_a_model_but_not_a_run():
    model = KAN(width=[1, 1], grid=4, k=0, seed=0, dtype="float64")
    assert model.layers[0].n_basis == 4
    cfg = RunConfig(model=ModelConfig(width=[1, 1], k=0))
    with pytest.raises(RunConfigError, match="model.k .* at least 1 for a run"):
        check_config(cfg)


def test_base_functions_are_the_spec_table():
    assert set(BASE_FUNCTIONS) == {"silu", "identity", "zero", "tanh", "gelu", "softplus"}


def test_kan_keywords_positionals_and_spec_build_the_same_model():
    x = torch.rand(16, 2, dtype=torch.float64)
    by_kw = KAN(width=[2, 3, 1], grid=4, k=2, seed=5, dtype="float64")
    by_pos = KAN([2, 3, 1], 4, 2, seed=5, dtype=torch.float64)
    by_spec = KAN.from_spec(KANSpec(width=[2, 3, 1], grid=4, k=2, seed=5, dtype="float64"))
    assert by_kw.spec == by_pos.spec == by_spec.spec
    assert torch.equal(by_kw(x), by_pos(x)) and torch.equal(by_kw(x), by_spec(x))
    assert by_kw.config == by_kw.spec.as_dict() and by_kw.grid == 4 and by_kw.k == 2
    assert all(layer.spec is by_kw.spec for layer in by_kw.layers)
    with pytest.raises(KANConfigError, match="two values for grid"):
        KAN([2, 1], 3, grid=3)
    with pytest.raises(KANConfigError, match="not both"):
        KAN(width=[2, 1], spec=by_kw.spec)


def test_layer_keywords_build_a_spec():
    layer = KANLayer(2, 3, grid=6, k=2, noise_scale=0.0, dtype=torch.float64)
    assert (layer.n_intervals, layer.k, layer.coef.shape) == (6, 2, (2, 3, 8))
    assert layer.spec.width == ((2, 0), (3, 0)) and layer.coef.dtype == torch.float64
    assert float(layer.coef.detach().abs().max()) == 0.0


def test_refine_and_prune_copy_the_spec_with_changes():
    model = KAN(width=[2, 4, 1], grid=3, seed=0, base_fun="tanh", scale_sp=0.5)
    x = torch.rand(64, 2) * 2 - 1
    fine = model.refine(7, x=x)
    assert fine.spec == model.spec.replace(grid=7) and fine.config["grid"] == 7
    small = model.prune_node(1e9, active_nodes=[[0, 2]])
    assert small.spec == model.spec.replace(width=[2, 2, 1])
    assert small.layers[0].base_fun_name == "tanh"


def _tensor(doc):
    dtype = getattr(torch, doc["dtype"])
    return torch.tensor(doc["data"], dtype=dtype).reshape(doc["shape"])


def test_a_checkpoint_written_by_the_previous_code_still_loads(tmp_path):
    """The fixture is the dict KAN.save wrote before KANSpec (main at 8a14a63), tensors as
    lists: a [2, [1, 1], 1] float64 model with a symbolic edge and a refined second layer."""
    doc = json.loads(FIXTURE.read_text())
    blob = dict(doc["checkpoint"])
    blob["state"] = {k: _tensor(v) for k, v in blob["state"].items()}
    path = tmp_path / "old.pt"
    torch.save(blob, path)
    model = load_model(path)
    assert model.config == blob["config"]
    assert [layer.n_intervals for layer in model.layers] == [3, 5]
    assert model.layers[0].symbolic.names[0][1] == "sin"
    y = model(_tensor(doc["x"]))
    assert torch.allclose(y, _tensor(doc["y"]), rtol=1e-12, atol=1e-12)
    model.save(tmp_path / "again.pt")
    again = torch.load(tmp_path / "again.pt", weights_only=True)
    assert again["version"] == 2 and "layers.1.knots" in again["state"]
    assert not any(k.endswith(".grid") for k in again["state"])
    assert torch.equal(load_model(tmp_path / "again.pt")(_tensor(doc["x"])), y)


def test_model_config_group_has_the_spec_fields():
    cfg = ModelConfig()
    names = [n for n in vars(cfg) if n not in ("hidden", "device")]
    assert names == list(spec_fields())
    assert (cfg.grid, cfg.seed, cfg.dtype, cfg.k) == (5, 0, "float32", 3)
