"""Export an episode store as a LeRobot v3.0 dataset (ROS-free; pyarrow and PyAV, no pandas).

The result is what LeRobot's ``LeRobotDataset(repo_id, root=out)`` loads::

    meta/info.json                                       codebase_version "v3.0", fps, features
    meta/stats.json                                      per-feature mean/std/min/max/count/q01..q99
    meta/tasks.parquet                                   task string (pandas index) -> task_index
    meta/episodes/chunk-000/file-000.parquet             one row per episode: lengths, where its
                                                         rows and video frames are, its stats
    data/chunk-000/file-000.parquet                      one row per frame (all episodes)
    videos/observation.images.<camera>/chunk-000/file-000.mp4    all episodes of that camera

Mapping from the store (``recording.py``): ``image_<camera>`` -> ``observation.images.<camera>``
(video), ``state`` -> ``observation.state``, ``action`` (the expert's label) -> ``action``.
``time``, ``stamps``, ``skew``, ``flags``, ``executed`` and ``control`` have no LeRobot column and
are not exported. Episodes are renumbered 0..N-1 in store order (LeRobot looks episodes up by
position); the store's index is kept in the extra episodes column ``source_episode``.

Decisions (LeRobot has no notion of them, so they are made here):

* Every episode and every row is exported, flagged rows included; each episode's ``success``
  and number of ``flagged_frames`` are extra columns of the episodes table (LeRobot keeps extra
  episode columns and ignores them). Only an episode with no rows (LeRobot cannot hold one) is
  left out, and listed in the summary.
* A missing or non-finite state/action sample is stored by the recorder as NaN. LeRobot has no
  mask for that and one NaN poisons normalisation and training, so such values are replaced by
  the last finite value of the same dimension in the episode (the next one at an episode's
  start, 0 if the dimension never has one). How many were filled is in the returned summary.
* Videos are yuv420p, which needs an even width and height: a dataset with an odd image size is
  refused with a ValueError (nothing is written) rather than padded or cropped, so that the
  exported frames are exactly the recorded ones.
* ``fps`` must be an integer in LeRobot; a non-integer ``rate_hz`` is refused with a ValueError.
* Encoding follows LeRobot's defaults (GOP 2, CRF 30, yuv420p), h264 by default, hevc and
  libsvtav1 on request, every keyframe a clean seek point (``lerobot_video.py``).
* Statistics follow LeRobot's ``compute_episode_stats``/``aggregate_stats``
  (``lerobot_meta.py``, which also writes the files of ``meta/``).
* The output is built in a temporary folder next to ``out`` and renamed into place at the end,
  so a failed export leaves no half dataset (and, with ``overwrite``, the old one intact).

This module is the exporter: ``export_lerobot``, what is exported under which names, and the
data files. ``lerobot_video.py`` encodes the cameras; ``lerobot_meta.py`` holds the layout (paths,
chunk numbering), the statistics and the writers of ``meta/``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time

import numpy as np

from bc_ros.core.data.lerobot_meta import (CHUNKS_SIZE, CODEBASE_VERSION, DATA_PATH,
                                           DEFAULT_TASK, EPISODES_PATH, INDEX_FEATURES,
                                           INFO_PATH, STATS_PATH, TASKS_PATH, VIDEO_PATH,
                                           aggregate_stats, image_stats, next_file,
                                           numeric_stats, stats_columns, write_episodes,
                                           write_json, write_stats, write_tasks)
from bc_ros.core.data.lerobot_video import (ENCODERS, PIX_FMT, VideoWriter, check_encoder,
                                            video_info)
from bc_ros.core.data.store import EpisodeStore

log = logging.getLogger(__name__)

DATA_FILES_SIZE_IN_MB = 100     # a data parquet file is closed past this size
VIDEO_FILES_SIZE_IN_MB = 500    # a video file is closed past this size
ODOMETRY_STATE_NAMES = ["x", "y", "z", "yaw", "vx", "vy", "vz", "yaw_rate"]


def export_lerobot(root: str, out: str, *, robot_type: str = "", codec: str = "h264",
                   overwrite: bool = False) -> dict:
    """Write the dataset at ``root`` (an ``EpisodeStore``) as a LeRobot v3.0 dataset at ``out``.

    ``robot_type`` goes into info.json (null when empty). ``codec``: h264 (default), hevc or
    libsvtav1. ``out`` must not exist unless ``overwrite``. Returns a summary: where things
    went, episode/frame counts, the tasks, flagged and filled values, and the seconds taken.
    """
    started = time.monotonic()
    root, out = os.path.abspath(root), os.path.abspath(out)
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite=True to replace it")
    if os.path.commonpath([root, out]) == out:
        raise ValueError(f"out ({out}) must not be the dataset ({root}) or a folder holding it")
    encoder = check_encoder(codec)
    store = EpisodeStore(root)
    info = store.meta.get("info", {})
    episodes = exported_episodes(store.episodes)
    skipped = [e["index"] for e in store.episodes if e.get("length", 0) <= 0]
    if not episodes:
        raise ValueError(f"dataset {root} has no episodes to export")
    fps = _integer_fps(info.get("rate_hz"))
    cameras = _cameras(store, info)
    for cam in cameras:
        ch, cw = store.features[f"image_{cam}"].shape[:2]
        if ch % 2 or cw % 2:
            raise ValueError(f"camera {cam!r} images are {cw}x{ch}: LeRobot videos are "
                             f"{PIX_FMT}, which needs an even width and height; record with an "
                             f"even image_width/image_height (or resize the dataset) to export")
    video_keys = [video_key(c) for c in cameras]
    features = lerobot_features(store)

    tasks: dict[str, int] = {}
    for e in episodes:
        tasks.setdefault(episode_task(e), len(tasks))

    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(out)}.partial-{os.getpid()}")
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    data_writer = _DataWriter(tmp, _data_schema(features), DATA_FILES_SIZE_IN_MB)
    videos = {key: VideoWriter(tmp, key, encoder, fps, VIDEO_FILES_SIZE_IN_MB)
              for key in video_keys}
    rows: list[dict] = []
    ep_stats_all: list[dict] = []
    filled = {"observation.state": 0, "action": 0}
    flagged_total = 0
    total = 0
    try:
        for ep_index, e in enumerate(episodes):
            data = store.read(e["index"])
            n = len(data["action"])
            task = episode_task(e)
            state, n_fill_s = _fill_nonfinite(data["state"].astype(np.float32))
            action, n_fill_a = _fill_nonfinite(data["action"].astype(np.float32))
            filled["observation.state"] += n_fill_s
            filled["action"] += n_fill_a
            flagged = int(np.count_nonzero(np.any(data["flags"] != 0, axis=1))) \
                if "flags" in data and n else 0
            flagged_total += flagged
            columns = {
                "action": action, "observation.state": state,
                "timestamp": (np.arange(n) / fps).astype(np.float32),
                "frame_index": np.arange(n, dtype=np.int64),
                "episode_index": np.full(n, ep_index, dtype=np.int64),
                "index": np.arange(total, total + n, dtype=np.int64),
                "task_index": np.full(n, tasks[task], dtype=np.int64),
            }
            chunk, file = data_writer.write(columns)
            row = {"episode_index": ep_index, "tasks": [task], "length": n,
                   "data/chunk_index": chunk, "data/file_index": file,
                   "dataset_from_index": total, "dataset_to_index": total + n}
            ep_stats = {"action": numeric_stats(action),
                        "observation.state": numeric_stats(state)}
            for cam, key in zip(cameras, video_keys):
                frames = data[f"image_{cam}"]
                row.update({f"videos/{key}/{k}": v
                            for k, v in videos[key].add_episode(frames).items()})
                ep_stats[key] = image_stats(frames)
            for name in INDEX_FEATURES:  # LeRobot's timestamps are float64 when it computes
                ep_stats[name] = numeric_stats(np.arange(n) / fps if name == "timestamp"
                                               else columns[name])
            row.update(stats_columns(ep_stats))
            row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
                        "success": bool(e.get("success", False)),
                        "source_episode": int(e["index"]), "flagged_frames": flagged})
            rows.append(row)
            ep_stats_all.append(ep_stats)
            total += n
        data_files = data_writer.close()
        video_files = {key: v.close() for key, v in videos.items()}
        for key in video_keys:
            features[key]["info"] = video_info(os.path.join(tmp, video_files[key][0]))

        write_json(os.path.join(tmp, INFO_PATH), {
            "codebase_version": CODEBASE_VERSION, "robot_type": robot_type or None,
            "total_episodes": len(episodes), "total_frames": total, "total_tasks": len(tasks),
            "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
            "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB, "fps": fps,
            "splits": {"train": f"0:{len(episodes)}"}, "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if video_keys else None, "features": features})
        write_stats(os.path.join(tmp, STATS_PATH), aggregate_stats(ep_stats_all))
        write_tasks(os.path.join(tmp, TASKS_PATH), tasks)
        write_episodes(os.path.join(tmp, EPISODES_PATH.format(chunk_index=0, file_index=0)),
                       rows)
    except BaseException:
        data_writer.abort()
        for v in videos.values():
            v.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.exists(out):
        shutil.rmtree(out)
    os.replace(tmp, out)
    if any(filled.values()):
        log.warning("replaced non-finite values by the last finite one: %s", filled)
    return {"root": root, "out": out, "episodes": len(episodes), "frames": total, "fps": fps,
            "cameras": cameras, "codec": encoder, "tasks": list(tasks),
            "info": os.path.join(out, INFO_PATH), "stats": os.path.join(out, STATS_PATH),
            "tasks_file": os.path.join(out, TASKS_PATH),
            "episodes_file": os.path.join(out, EPISODES_PATH.format(chunk_index=0,
                                                                    file_index=0)),
            "data_files": [os.path.join(out, p) for p in data_files],
            "video_files": {k: [os.path.join(out, p) for p in v]
                            for k, v in video_files.items()},
            "flagged_frames": flagged_total, "filled_nonfinite": filled,
            "skipped_empty_episodes": skipped,
            "seconds": time.monotonic() - started}


# ---- what is exported, under which names -----------------------------------------------------
def exported_episodes(episodes: list[dict]) -> list[dict]:
    """The store's episodes (``EpisodeStore.episodes``) that an export holds, in its order: every
    one with rows (LeRobot cannot hold an empty one). Position i is LeRobot's episode_index i."""
    return [e for e in episodes if e.get("length", 0) > 0]


def episode_task(episode: dict) -> str:
    """An episode's task string in LeRobot (DEFAULT_TASK where the store has none)."""
    return episode.get("task") or DEFAULT_TASK


def video_key(camera: str) -> str:
    """The LeRobot feature of camera ``camera`` (the store's ``image_<camera>``)."""
    return f"observation.images.{camera}"


def lerobot_features(store: EpisodeStore) -> dict:
    """info.json's ``features`` for ``store``: action, observation.state, a video per camera (its
    ``info`` None until the video is written), then LeRobot's index features."""
    info = store.meta.get("info", {})
    n_state = store.features["state"].shape[0]
    n_action = store.features["action"].shape[0]
    features = {"action": {"dtype": "float32", "shape": [n_action],
                           "names": list(info["action_names"]) if info.get("action_names")
                           and len(info["action_names"]) == n_action else None},
                "observation.state": {"dtype": "float32", "shape": [n_state],
                                      "names": _state_names(info, n_state)}}
    for cam in _cameras(store, info):
        ch, cw, cc = store.features[f"image_{cam}"].shape
        features[video_key(cam)] = {"dtype": "video", "shape": [ch, cw, cc],
                                    "names": ["height", "width", "channels"], "info": None}
    features.update({k: dict(v) for k, v in INDEX_FEATURES.items()})
    return features


def _integer_fps(rate_hz) -> int:
    if not rate_hz or rate_hz <= 0:
        raise ValueError(f"the dataset's info has no valid rate_hz ({rate_hz!r})")
    fps = int(round(float(rate_hz)))
    if abs(float(rate_hz) - fps) > 1e-6:
        raise ValueError(f"LeRobot needs an integer fps, but the dataset's rate_hz is {rate_hz}")
    return fps


def _cameras(store: EpisodeStore, info: dict) -> list[str]:
    listed = [c["name"] for c in info.get("cameras", [])]
    present = [k[len("image_"):] for k in store.features if k.startswith("image_")]
    return [c for c in listed if c in present] + [c for c in present if c not in listed]


def _state_names(info: dict, n: int):
    names = info.get("state_names")
    if names and len(names) == n:
        return list(names)
    if info.get("state_type") == "odometry" and n == len(ODOMETRY_STATE_NAMES):
        return list(ODOMETRY_STATE_NAMES)  # conversions.odometry_from_msg's layout
    return None


def _fill_nonfinite(a: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace non-finite entries by the last finite value of the same column (the first
    finite one before it, 0 if none). Returns the array and how many entries were replaced."""
    bad = ~np.isfinite(a)
    count = int(bad.sum())
    if not count:
        return a, 0
    a = a.copy()
    rows = np.arange(len(a))
    for j in np.flatnonzero(bad.any(axis=0)):
        good = ~bad[:, j]
        if not good.any():
            a[:, j] = 0.0
            continue
        last = np.maximum.accumulate(np.where(good, rows, 0))
        first = int(np.argmax(good))
        last[:first] = first
        a[:, j] = a[last, j]
    return a, count


# ---- the data files --------------------------------------------------------------------------
def _data_schema(features: dict):
    """The data files' Arrow schema, with the Hugging Face ``datasets`` features LeRobot's
    writer stores in it: a vector is Sequence(float32, length) = fixed_size_list<float>[n]."""
    import pyarrow as pa

    fields, hf = [], {}
    for key, ft in features.items():
        if ft["dtype"] == "video":
            continue
        value = {"dtype": ft["dtype"], "_type": "Value"}
        if ft["shape"] == [1]:
            fields.append(pa.field(key, pa.from_numpy_dtype(np.dtype(ft["dtype"]))))
            hf[key] = value
        else:
            fields.append(pa.field(key, pa.list_(pa.from_numpy_dtype(np.dtype(ft["dtype"])),
                                                 ft["shape"][0])))
            hf[key] = {"feature": value, "length": ft["shape"][0], "_type": "Sequence"}
    meta = {b"huggingface": json.dumps({"info": {"features": hf}}).encode()}
    return pa.schema(fields, metadata=meta)


class _DataWriter:
    """Appends episodes to data/chunk-CCC/file-FFF.parquet, starting a new file at an episode
    boundary once the current one would pass ``max_file_mb``."""

    def __init__(self, root: str, schema, max_file_mb: float):
        self.root, self.schema = root, schema
        self.max_file_bytes = max_file_mb * 1024 ** 2
        self.chunk, self.file = 0, 0
        self.writer = None
        self.bytes = 0
        self.paths: list[str] = []

    def write(self, columns: dict) -> tuple[int, int]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = []
        for field in self.schema:
            v = columns[field.name]
            if pa.types.is_fixed_size_list(field.type):
                flat = pa.array(np.ascontiguousarray(v).reshape(-1), type=field.type.value_type)
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, field.type.list_size))
            else:  # a shape-[1] feature is a plain column in LeRobot, not a list
                arrays.append(pa.array(np.asarray(v).reshape(-1), type=field.type))
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        if self.writer is not None and self.bytes + table.nbytes >= self.max_file_bytes:
            self.writer.close()
            self.writer = None
            self.chunk, self.file = next_file(self.chunk, self.file)
        if self.writer is None:
            rel = DATA_PATH.format(chunk_index=self.chunk, file_index=self.file)
            os.makedirs(os.path.dirname(os.path.join(self.root, rel)), exist_ok=True)
            self.writer = pq.ParquetWriter(os.path.join(self.root, rel), self.schema,
                                           compression="snappy", use_dictionary=True)
            self.paths.append(rel)
            self.bytes = 0
        self.writer.write_table(table)
        self.bytes += table.nbytes
        return self.chunk, self.file

    def close(self) -> list[str]:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        return self.paths

    def abort(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - cleaning up after another error
            pass


def main(argv=None) -> int:
    """``python -m bc_ros.core.data.lerobot ROOT OUT [--robot-type T] [--codec C] [--overwrite]``"""
    import argparse

    p = argparse.ArgumentParser(description="Export a bc_ros dataset as LeRobot v3.0.")
    p.add_argument("root")
    p.add_argument("out")
    p.add_argument("--robot-type", default="")
    p.add_argument("--codec", default="h264", choices=sorted(ENCODERS))
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    summary = export_lerobot(a.root, a.out, robot_type=a.robot_type, codec=a.codec,
                             overwrite=a.overwrite)
    print(f"exported {summary['episodes']} episodes, {summary['frames']} frames to "
          f"{summary['out']} in {summary['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
