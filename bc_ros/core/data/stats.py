"""Normalization statistics per feature: mean, std, min, max, q01, q99 (ROS-free, numpy)."""

from __future__ import annotations

import numpy as np

STAT_NAMES = ("mean", "std", "min", "max", "q01", "q99", "count")


def feature_stats(values: np.ndarray, axis: int = 0) -> dict[str, np.ndarray]:
    """Statistics over ``axis`` (rows) of a float array; NaN rows are ignored and counted out."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape[axis] == 0:
        raise ValueError("cannot compute statistics of an empty feature")
    finite = np.isfinite(v).all(axis=tuple(range(1, v.ndim))) if v.ndim > 1 else np.isfinite(v)
    v = v[finite]
    if len(v) == 0:
        raise ValueError("every row of the feature has a NaN or inf")
    return {"mean": v.mean(0), "std": v.std(0), "min": v.min(0), "max": v.max(0),
            "q01": np.quantile(v, 0.01, axis=0), "q99": np.quantile(v, 0.99, axis=0),
            "count": np.array(len(v))}


def merge_stats(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Combine per-episode statistics exactly for mean/std/min/max; quantiles are count-weighted
    averages of the parts' quantiles (exact quantiles would need every row in memory)."""
    if not parts:
        raise ValueError("no statistics to merge")
    n = np.array([float(p["count"]) for p in parts])
    w = n / n.sum()
    mean = sum(wi * p["mean"] for wi, p in zip(w, parts))
    var = sum(wi * (p["std"] ** 2 + (p["mean"] - mean) ** 2) for wi, p in zip(w, parts))
    return {"mean": mean, "std": np.sqrt(var),
            "min": np.min([p["min"] for p in parts], axis=0),
            "max": np.max([p["max"] for p in parts], axis=0),
            "q01": sum(wi * p["q01"] for wi, p in zip(w, parts)),
            "q99": sum(wi * p["q99"] for wi, p in zip(w, parts)),
            "count": np.array(int(n.sum()))}


def stats_to_json(stats: dict[str, np.ndarray]) -> dict:
    return {k: np.asarray(v).tolist() for k, v in stats.items()}


def stats_from_json(data: dict) -> dict[str, np.ndarray]:
    missing = set(STAT_NAMES) - set(data)
    if missing:
        raise ValueError(f"statistics lack {sorted(missing)}")
    return {k: np.asarray(data[k], dtype=np.float64) for k in STAT_NAMES}
