"""The one cache: keyed on the tensors themselves and their versions, never on id()."""

import copy

import torch

from kanrun import KAN
from kanrun.kan.cache import TensorCache, cached_on


def test_hit_only_for_the_same_tensor_at_the_same_version():
    cache, calls = TensorCache(2), []

    def compute(t):
        calls.append(1)
        return t.sum().item()

    x = torch.arange(4.0)
    assert cache.get((x,), lambda: compute(x)) == 6.0
    assert cache.get((x,), lambda: compute(x)) == 6.0 and len(calls) == 1
    x.mul_(2)  # in place: a new version
    assert cache.get((x,), lambda: compute(x)) == 12.0 and len(calls) == 2
    twin = x.clone()  # equal values, another tensor
    assert cache.get((twin,), lambda: compute(twin)) == 12.0 and len(calls) == 3
    x.data = torch.ones(4)  # same object, new storage
    assert cache.get((x,), lambda: compute(x)) == 4.0 and len(calls) == 4
    assert len(cache) == 2  # the oldest entries were dropped


def test_extra_key_and_clear():
    cache = TensorCache(4)
    x = torch.zeros(2)
    assert cache.get((x,), lambda: "a", extra=(1,)) == "a"
    assert cache.get((x,), lambda: "b", extra=(2,)) == "b"
    assert cache.get((x,), lambda: "c", extra=(1,)) == "a"
    cache.clear()
    assert cache.get((x,), lambda: "d", extra=(1,)) == "d"


class _Holder:
    def __init__(self):
        self.t = torch.zeros(3)
        self.calls = 0

    @cached_on("t")
    def total(self):
        self.calls += 1
        return float(self.t.sum())


def test_cached_on_follows_the_attribute():
    h = _Holder()
    assert h.total() == 0.0 and h.total() == 0.0 and h.calls == 1
    h.t.add_(1.0)
    assert h.total() == 3.0 and h.calls == 2
    h.t = torch.full((3,), 2.0)  # replaced
    assert h.total() == 6.0 and h.calls == 3


def test_layer_tables_follow_the_grid_and_survive_a_deep_copy():
    model = KAN(width=[2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    layer = model.layers[0]
    tables = layer.tables()
    assert layer.tables() is tables
    model.update_grid(torch.rand(50, 2, dtype=torch.float64) * 2 - 1)
    assert layer.tables() is not tables
    twin = copy.deepcopy(model)
    x = torch.rand(20, 2, dtype=torch.float64)
    assert torch.equal(twin(x), model(x))
