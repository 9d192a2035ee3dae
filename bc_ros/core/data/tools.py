"""``bc-ros dataset info`` and ``audit``: what is in a dataset, and what is wrong with it."""

from __future__ import annotations

import collections

import numpy as np

from bc_ros.core.data.recording import BAD_VALUE, MISSING, NUMERIC_STREAMS, STALE
from bc_ros.core.data.store import EpisodeStore


def dataset_info(root: str) -> dict:
    """Episodes, frames, rate, success, tasks and control sources of a dataset."""
    store = EpisodeStore(root)
    info = store.meta["info"]
    episodes = store.episodes
    frames = sum(e["length"] for e in episodes)
    rate = info.get("rate_hz") or 0.0
    tasks = collections.Counter(e.get("task", "") for e in episodes)
    sources = collections.Counter(e.get("source", "expert") for e in episodes)
    control = collections.Counter()
    if "control" in store.features:
        for e in episodes:
            who = store.read(e["index"], ["control"])["control"]   # without the cameras
            values, counts = np.unique(who, return_counts=True)
            for v, c in zip(values, counts):
                control[{0: "expert", 1: "policy"}.get(int(v), "unknown")] += int(c)
    return {"root": root, "episodes": len(episodes), "frames": frames, "rate_hz": rate,
            "duration_s": frames / rate if rate else None,
            "successes": sum(bool(e.get("success")) for e in episodes),
            "recovered": sum(bool(e.get("recovered")) for e in episodes),
            "tasks": dict(tasks), "sources": dict(sources), "control_ticks": dict(control),
            "cameras": [c["name"] for c in info.get("cameras", [])],
            "image_size": info.get("image_size"), "action_names": info.get("action_names"),
            "command_type": info.get("command_type"),
            "command_interface": info.get("command_interface", "velocity")}


def audit_dataset(root: str, max_flagged_fraction: float = 0.05,
                  max_gap_periods: float = 1.5) -> dict:
    """Timestamp gaps, skew statistics, drop rates, NaNs; episodes that fail a check are listed
    under ``flagged_episodes`` with the reasons."""
    store = EpisodeStore(root)
    info = store.meta["info"]
    streams = info["streams"]
    period = 1.0 / info["rate_hz"]
    per_stream = {s: {"missing": 0, "stale": 0, "bad_value": 0, "gaps": 0, "skews": []}
                  for s in streams}
    flagged, ticks = {}, 0
    for e in store.episodes:
        data = store.read(e["index"])
        n = len(data["time"])
        ticks += n
        reasons = []
        if e.get("recovered"):
            reasons.append("recovered after a crash")
        if n and np.any(np.abs(np.diff(data["time"]) - period) > 1e-6):
            reasons.append("tick times are not evenly spaced")
        for i, s in enumerate(streams):
            f = data["flags"][:, i]
            st = per_stream[s]
            st["missing"] += int(np.sum(f & MISSING > 0))
            st["stale"] += int(np.sum(f & STALE > 0))
            bad = f & BAD_VALUE > 0
            if s in NUMERIC_STREAMS and n:   # also rows a file flags ok though NaN/inf
                present = f & (MISSING | STALE) == 0     # (missing/stale rows are NaN)
                bad |= present & ~np.isfinite(data[s]).all(axis=1)
            st["bad_value"] += int(np.sum(bad))
            stamps = data["stamps"][:, i]
            stamps = stamps[np.isfinite(stamps)]
            gaps = int(np.sum(np.diff(np.unique(stamps)) > max_gap_periods * period))
            st["gaps"] += gaps
            skew = data["skew"][:, i]
            st["skews"].append(skew[np.isfinite(skew)])
            frac = float(np.mean(f != 0)) if n else 0.0
            if frac > max_flagged_fraction:
                reasons.append(f"{s}: {100 * frac:.0f} % of ticks flagged")
        for key in ("state", "action"):
            if n and not np.all(np.isfinite(data[key])):
                reasons.append(f"NaN/inf in {key}")
        if reasons:
            flagged[e["index"]] = reasons
    report = {"root": root, "episodes": len(store.episodes), "ticks": ticks, "streams": {}}
    for s, st in per_stream.items():
        skews = np.concatenate(st.pop("skews")) if ticks else np.zeros(0)
        report["streams"][s] = {
            **st, "drop_rate": (st["missing"] + st["stale"]) / ticks if ticks else 0.0,
            "skew_median_ms": float(np.median(skews) * 1e3) if skews.size else None,
            "skew_p99_ms": float(np.quantile(skews, 0.99) * 1e3) if skews.size else None,
            "skew_max_ms": float(skews.max() * 1e3) if skews.size else None}
    report["flagged_episodes"] = flagged
    report["ok"] = not flagged
    return report


def contact_sheet_of_episode(root: str, index: int, camera: str = "center", frames: int = 12,
                             columns: int = 6, scale: int = 2) -> np.ndarray:
    """A grid of ``frames`` evenly spaced ticks of one episode, each with its tick, time and
    the recorded command drawn over it (an arrow: forward up, lateral/yaw sideways)."""
    import cv2

    store = EpisodeStore(root)
    if index not in {e["index"] for e in store.episodes}:
        raise ValueError(f"episode {index} is not in {root}; episodes: "
                         f"{[e['index'] for e in store.episodes]}")
    data = store.read(index)
    key = f"image_{camera}"
    if key not in data:
        raise ValueError(f"camera {camera!r} is not in the dataset")
    names = store.meta["info"]["action_names"]
    n = len(data[key])
    ticks = np.unique(np.linspace(0, n - 1, min(frames, n)).round().astype(int))
    tiles = []
    for t in ticks:
        img = cv2.resize(data[key][t], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        img = np.ascontiguousarray(img)
        h, w = img.shape[:2]
        a = dict(zip(names, data["action"][t]))
        forward = float(a.get("vx", 0.0))
        side = float(a.get("yaw_rate", a.get("vy", 0.0)))
        if np.isfinite(forward) and np.isfinite(side):
            c = (w // 2, h - 8)
            tip = (int(c[0] - side * w * 0.25), int(c[1] - forward * h * 0.2))
            cv2.arrowedLine(img, c, tip, (255, 40, 40), 2, tipLength=0.3)
        label = f"t={t} " + " ".join(f"{v:+.2f}" for v in data["action"][t])
        cv2.putText(img, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1)
        tiles.append(img)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)
