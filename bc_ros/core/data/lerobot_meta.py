"""The LeRobot v3.0 layout and what goes under ``meta/`` (ROS-free; numpy and pyarrow).

Where files go (the path templates and chunk numbering info.json records), the statistics of
``meta/stats.json`` and of every episode's row, and the writers of ``meta/info.json``,
``meta/stats.json``, ``meta/tasks.parquet`` and the episodes table. ``lerobot.py`` uses them to
export a dataset; its docstring describes the whole layout.

Statistics follow LeRobot's ``compute_episode_stats``/``aggregate_stats``: per episode, images
on a subsample of frames, per channel in [0, 1] with shape (3, 1, 1), quantiles from a 5000-bin
histogram; the dataset's are the count-weighted combination of the episodes'.
"""

from __future__ import annotations

import json
import os

import numpy as np

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000              # files per chunk folder
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
TASKS_PATH = "meta/tasks.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
DEFAULT_TASK = "default task"

# LeRobot's DEFAULT_FEATURES, in its order and form
INDEX_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_BINS = 5000


def next_file(chunk: int, file: int) -> tuple[int, int]:
    """The (chunk, file) index after ``(chunk, file)``: a chunk folder holds CHUNKS_SIZE files."""
    return (chunk + 1, 0) if file == CHUNKS_SIZE - 1 else (chunk, file + 1)


# ---- statistics (LeRobot's compute_stats.py) -------------------------------------------------
def sample_indices(n: int) -> np.ndarray:
    """LeRobot's frame subsample for image statistics (estimate_num_samples, sample_indices)."""
    k = max(min(100, n), min(int(n ** 0.75), 10_000))
    return np.round(np.linspace(0, n - 1, k)).astype(int)


def quantile_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """min/max/mean/std/quantiles over the rows of ``x`` (N, D), quantiles interpolated in a
    5000-bin histogram between the column's min and max as LeRobot's RunningQuantileStats."""
    keys = [f"q{int(round(q * 100)):02d}" for q in QUANTILES]
    cols = np.ascontiguousarray(x.T)          # (D, N): one contiguous row per dimension
    colsf = cols.astype(np.float64)
    stats = {"min": cols.min(axis=1), "max": cols.max(axis=1), "mean": colsf.mean(axis=1),
             "std": colsf.std(axis=1)}
    n = len(x)
    if n < 2:
        for k in keys:
            stats[k] = stats["mean"].copy()
        return stats
    qs = np.empty((len(QUANTILES), x.shape[1]))
    for d in range(x.shape[1]):
        lo, hi = float(stats["min"][d]), float(stats["max"][d])
        # 5000 bins need 5000 distinct float edges: a (near) constant column of large values
        # (stamps, a joint at rest) is widened to that, others by LeRobot's 1e-10
        pad = max(1e-10, 4 * QUANTILE_BINS * float(np.spacing(max(abs(lo), abs(hi)))))
        lo, hi = (lo - pad, hi + pad) if hi - lo < 2 * pad else (lo - 1e-10, hi + 1e-10)
        hist, edges = np.histogram(colsf[d], bins=QUANTILE_BINS, range=(lo, hi))
        cumsum = np.cumsum(hist)
        for i, q in enumerate(QUANTILES):
            target = q * n
            idx = int(np.searchsorted(cumsum, target))
            if idx == 0:
                qs[i, d] = edges[0]
            elif idx >= len(cumsum):
                qs[i, d] = edges[-1]
            else:
                before = cumsum[idx - 1]
                in_bin = cumsum[idx] - before
                qs[i, d] = edges[idx] if in_bin == 0 else (
                    edges[idx] + (target - before) / in_bin * (edges[idx + 1] - edges[idx]))
    for i, k in enumerate(keys):
        stats[k] = qs[i]
    return stats


def numeric_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of a (N,) or (N, D) feature: shape (1,) or (D,) each, count (1,)."""
    x = values.reshape(len(values), -1)
    stats = quantile_stats(x)
    stats["count"] = np.array([len(values)])
    return stats


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel statistics in [0, 1], shape (3, 1, 1), over a subsample of (N, H, W, 3)
    frames (downsampled past 300 px like LeRobot); count is the number of frames sampled."""
    sample = frames[sample_indices(len(frames))]
    h, w = sample.shape[1:3]
    if max(h, w) >= 300:
        f = int(max(h, w) / 150)
        sample = sample[:, ::f, ::f]
    stats = quantile_stats(sample.reshape(-1, sample.shape[-1]))
    out = {k: (np.asarray(v, dtype=np.float64) / 255.0).reshape(-1, 1, 1)
           for k, v in stats.items()}
    out["count"] = np.array([len(sample)])
    return out


def aggregate_stats(parts: list[dict]) -> dict[str, dict[str, np.ndarray]]:
    """LeRobot's aggregate_stats: exact count-weighted mean and variance, min of mins, max of
    maxes, count-weighted mean of the quantiles."""
    out = {}
    for feat in parts[0]:
        sts = [p[feat] for p in parts]
        counts = np.stack([s["count"] for s in sts]).astype(np.float64)   # (E, 1)
        means = np.stack([s["mean"] for s in sts]).astype(np.float64)
        c = counts.reshape(len(sts), *([1] * (means.ndim - 1)))
        total = counts.sum(axis=0)
        mean = (means * c).sum(axis=0) / total
        var = ((np.stack([s["std"] for s in sts]) ** 2 + (means - mean) ** 2) * c).sum(
            axis=0) / total
        agg = {"min": np.min(np.stack([s["min"] for s in sts]), axis=0),
               "max": np.max(np.stack([s["max"] for s in sts]), axis=0),
               "mean": mean, "std": np.sqrt(var), "count": total.astype(np.int64)}
        for k in sts[0]:
            if k.startswith("q") and k[1:].isdigit():
                agg[k] = (np.stack([s[k] for s in sts]) * c).sum(axis=0) / total
        out[feat] = agg
    return out


def stats_columns(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, list]:
    """An episode's statistics as the episodes table holds them: ``stats/<feature>/<stat>``."""
    return {f"stats/{feat}/{stat}": np.asarray(value).tolist()
            for feat, st in stats.items() for stat, value in st.items()}


# ---- the files of meta/ ----------------------------------------------------------------------
def write_json(path: str, data) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=4, ensure_ascii=False)


def write_stats(path: str, stats: dict[str, dict[str, np.ndarray]]) -> None:
    """meta/stats.json: every feature's statistics as (nested) lists."""
    write_json(path, {feat: {k: np.asarray(v).tolist() for k, v in st.items()}
                      for feat, st in stats.items()})


def write_tasks(path: str, tasks: dict[str, int]) -> None:
    """meta/tasks.parquet as pandas' ``DataFrame({"task_index": ...}, index=Index(tasks,
    name="task")).to_parquet()`` writes it (LeRobot reads it with ``pd.read_parquet``): columns
    task_index (int64) and task (string), with the pandas metadata that makes ``task`` the
    index. Written by hand so that pandas is not needed here."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode",
                            "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                     "numpy_type": "int64", "metadata": None},
                    {"name": "task", "field_name": "task", "pandas_type": "unicode",
                     "numpy_type": "object", "metadata": None}],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    schema = pa.schema([pa.field("task_index", pa.int64()), pa.field("task", pa.string())],
                       metadata={b"pandas": json.dumps(pandas_meta).encode()})
    table = pa.Table.from_arrays([pa.array(list(tasks.values()), pa.int64()),
                                  pa.array(list(tasks), pa.string())], schema=schema)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path)


def write_episodes(path: str, rows: list[dict]) -> None:
    """The episodes table (meta/episodes/chunk-CCC/file-FFF.parquet): one row per episode,
    every row with the same columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(os.path.dirname(path), exist_ok=True)
    table = pa.Table.from_pydict({k: [r[k] for r in rows] for k in rows[0]})
    pq.write_table(table, path, compression="snappy", use_dictionary=True)
