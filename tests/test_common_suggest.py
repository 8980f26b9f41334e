"""The one "did you mean" helper."""

from kanrun.common.suggest import closest, did_you_mean


def test_closest_and_hint():
    assert closest("widht", ["width", "grid", "k"]) == "width"
    assert closest("zzz", ["width", "grid"]) is None
    assert did_you_mean("trian", ("train", "resume")) == " Did you mean 'train'?"
    assert did_you_mean("qqqq", ("train", "resume")) == ""
