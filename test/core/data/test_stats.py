import numpy as np
import pytest

from bc_ros.core.data.stats import feature_stats, merge_stats, stats_from_json, stats_to_json


def test_stats_of_a_known_distribution():
    v = np.random.default_rng(0).normal([1.0, -2.0], [0.5, 3.0], size=(20000, 2))
    s = feature_stats(v)
    np.testing.assert_allclose(s["mean"], [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(s["std"], [0.5, 3.0], rtol=0.03)
    assert np.all(s["q01"] < s["mean"]) and np.all(s["q99"] > s["mean"])
    assert np.all(s["min"] <= s["q01"]) and int(s["count"]) == 20000


def test_nan_rows_are_left_out():
    s = feature_stats(np.array([[1.0, 2.0], [np.nan, 5.0], [3.0, 4.0]]))
    assert int(s["count"]) == 2 and s["mean"].tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match="every row"):
        feature_stats(np.array([[np.nan]]))


def test_merged_mean_and_std_equal_the_whole():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (100, 3)), rng.normal(5, 2, (300, 3))
    merged = merge_stats([feature_stats(a), feature_stats(b)])
    whole = feature_stats(np.concatenate([a, b]))
    for k in ("mean", "std", "min", "max"):
        np.testing.assert_allclose(merged[k], whole[k], rtol=1e-10)


def test_json_round_trip():
    s = feature_stats(np.arange(10.0).reshape(5, 2))
    back = stats_from_json(stats_to_json(s))
    for k in s:
        np.testing.assert_array_equal(back[k], s[k])
