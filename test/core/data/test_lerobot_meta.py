"""The LeRobot layout, statistics and meta/ writers on their own: stats of parts combine into the
stats of the whole, image stats are per channel in [0, 1], the tables read back as written."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from bc_ros.core.data.lerobot_meta import (CHUNKS_SIZE, QUANTILE_BINS, aggregate_stats,
                                           image_stats, next_file, numeric_stats,
                                           quantile_stats, sample_indices, stats_columns,
                                           write_episodes, write_json, write_stats, write_tasks)


def test_file_indices_roll_over_into_the_next_chunk():
    assert next_file(0, 0) == (0, 1)
    assert next_file(0, CHUNKS_SIZE - 1) == (1, 0)
    assert next_file(3, CHUNKS_SIZE - 2) == (3, CHUNKS_SIZE - 1)


def test_quantiles_are_within_a_histogram_bin_of_the_exact_ones():
    u = np.random.default_rng(0).permutation(np.linspace(0.0, 1.0, 20_001))
    x = np.stack([u, 10 + 3 * u ** 2], axis=1)       # (N, 2): uniform, and a skewed one
    st = quantile_stats(x)
    bin_width = (x.max(0) - x.min(0)) / QUANTILE_BINS
    for name, q in (("q01", 0.01), ("q10", 0.10), ("q50", 0.50), ("q90", 0.90), ("q99", 0.99)):
        assert np.all(np.abs(st[name] - np.quantile(x, q, axis=0)) <= bin_width), name
    np.testing.assert_allclose(st["mean"], x.mean(0))
    np.testing.assert_allclose(st["std"], x.std(0))
    one = quantile_stats(np.array([[2.0, -1.0]]))   # one row: every quantile is the value
    assert one["q01"].tolist() == one["q99"].tolist() == [2.0, -1.0]


def test_stats_of_episodes_aggregate_to_the_stats_of_all_rows():
    rng = np.random.default_rng(1)
    parts = [rng.normal(m, s, size=(n, 3)).astype(np.float32)
             for m, s, n in ((0.0, 1.0, 50), (3.0, 0.5, 120), (-1.0, 2.0, 7))]
    agg = aggregate_stats([{"f": numeric_stats(p)} for p in parts])["f"]
    whole = np.concatenate(parts).astype(np.float64)
    np.testing.assert_allclose(agg["mean"], whole.mean(0), rtol=1e-6)
    np.testing.assert_allclose(agg["std"], whole.std(0), rtol=1e-5)
    np.testing.assert_array_equal(agg["min"], whole.min(0).astype(np.float32))
    np.testing.assert_array_equal(agg["max"], whole.max(0).astype(np.float32))
    assert agg["count"].tolist() == [177]
    assert {"q01", "q10", "q50", "q90", "q99"} <= set(agg)
    assert numeric_stats(np.arange(4)).keys() == agg.keys()
    assert numeric_stats(np.arange(4))["mean"].shape == (1,)  # a scalar feature is shape (1,)


def test_image_stats_are_per_channel_in_unit_range_on_a_subsample():
    assert sample_indices(7).tolist() == list(range(7))
    big = sample_indices(20_000)
    assert len(big) == int(20_000 ** 0.75) and big[0] == 0 and big[-1] == 19_999
    frames = np.zeros((10, 4, 6, 3), np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 0, 51, 255
    st = image_stats(frames)
    assert st["mean"].shape == (3, 1, 1) and st["q50"].shape == (3, 1, 1)
    np.testing.assert_allclose(st["mean"].ravel(), [0.0, 0.2, 1.0])
    np.testing.assert_allclose(st["max"].ravel(), [0.0, 0.2, 1.0])
    assert st["count"].tolist() == [10]


def test_meta_files_read_back_as_written(tmp_path):
    write_json(str(tmp_path / "meta" / "info.json"), {"robot_type": "drône"})
    with open(tmp_path / "meta" / "info.json", encoding="utf-8") as f:
        assert json.load(f) == {"robot_type": "drône"}

    write_stats(str(tmp_path / "meta" / "stats.json"),
                aggregate_stats([{"action": numeric_stats(np.array([[1.0], [3.0]]))}]))
    with open(tmp_path / "meta" / "stats.json") as f:
        stats = json.load(f)
    assert stats["action"]["mean"] == [2.0] and stats["action"]["count"] == [2]

    write_tasks(str(tmp_path / "meta" / "tasks.parquet"), {"go left": 0, "land": 1})
    tasks = pq.read_table(tmp_path / "meta" / "tasks.parquet")
    assert tasks.column("task").to_pylist() == ["go left", "land"]
    assert tasks.column("task_index").to_pylist() == [0, 1]
    assert tasks.schema.pandas_metadata["index_columns"] == ["task"]

    ep_stats = {"action": numeric_stats(np.array([[1.0, 2.0], [3.0, 4.0]]))}
    columns = stats_columns(ep_stats)
    assert columns["stats/action/mean"] == [2.0, 3.0] and columns["stats/action/count"] == [2]
    rows = [{"episode_index": i, "tasks": ["go left"], **columns} for i in range(2)]
    path = tmp_path / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    write_episodes(str(path), rows)
    back = pq.read_table(path).to_pylist()
    assert [r["episode_index"] for r in back] == [0, 1]
    assert back[1]["stats/action/max"] == pytest.approx([3.0, 4.0])


def test_constant_columns_of_large_values_get_their_value_as_every_quantile():
    """A column that never changes (a stamp, a joint at rest) at a magnitude where 5000 bins of
    +-1e-10 are not distinct floats made the export fail ("Too many bins for data range")."""
    x = np.stack([np.full(50, 1.7e9), np.full(50, 3.0), np.full(50, -250.5)], 1)
    stats = quantile_stats(x.astype(np.float32))
    for key in ("q01", "q50", "q99"):
        np.testing.assert_allclose(stats[key], [1.7e9, 3.0, -250.5], rtol=1e-6)
