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
* Encoding follows LeRobot's defaults (GOP 2, CRF 30, yuv420p); the codec is h264 (libx264) by
  default for compatibility, ``hevc`` and ``libsvtav1`` (LeRobot's own default) on request.
  Every keyframe is a clean random-access point and frames are stored in display order (x265 is
  told to close its GOPs and use no B-frames, as x264 and SVT-AV1 do at GOP 2 anyway): LeRobot
  seeks to the keyframe before a frame and decodes from there.
* Statistics follow LeRobot's ``compute_episode_stats``/``aggregate_stats``: per episode, images
  on a subsample of frames, per channel in [0, 1] with shape (3, 1, 1), quantiles from a
  5000-bin histogram; the dataset's are the count-weighted combination of the episodes'.
* The output is built in a temporary folder next to ``out`` and renamed into place at the end,
  so a failed export leaves no half dataset (and, with ``overwrite``, the old one intact).
"""

from __future__ import annotations

import fractions
import json
import logging
import os
import shutil
import time

import numpy as np

from bc_ros.core.data.store import EpisodeStore

log = logging.getLogger(__name__)

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000              # files per chunk folder
DATA_FILES_SIZE_IN_MB = 100     # a data parquet file is closed past this size
VIDEO_FILES_SIZE_IN_MB = 500    # a video file is closed past this size
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
TASKS_PATH = "meta/tasks.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
DEFAULT_TASK = "default task"

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_BINS = 5000
VIDEO_GOP = 2
VIDEO_CRF = 30
PIX_FMT = "yuv420p"
# codec name accepted here -> the FFmpeg encoder used (LeRobot accepts h264, hevc, libsvtav1)
ENCODERS = {"h264": "libx264", "libx264": "libx264", "hevc": "libx265", "libx265": "libx265",
            "libsvtav1": "libsvtav1", "av1": "libsvtav1"}
# Every keyframe must be a clean random-access point: LeRobot seeks to the keyframe before the
# frame it wants and decodes from there. libx264 and SVT-AV1 close their GOPs by default;
# libx265 opens them (a keyframe is a CRA whose leading B-frame, shown before it, references
# the previous GOP), and LeRobot's torchcodec decoder then cannot return some frames after a
# seek (FrameTimestampError: the nearest decodable frame is one frame away). So x265 encodes
# closed GOPs without B-frames: frames come out in display order, as with the other two.
ENCODER_OPTIONS = {"libx265": {"x265-params": "open-gop=0:bframes=0:log-level=error"}}
ODOMETRY_STATE_NAMES = ["x", "y", "z", "yaw", "vx", "vy", "vz", "yaw_rate"]

# LeRobot's DEFAULT_FEATURES, in its order and form
INDEX_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


def export_lerobot(root: str, out: str, *, robot_type: str = "", codec: str = "h264",
                   overwrite: bool = False) -> dict:
    """Write the dataset at ``root`` (an ``EpisodeStore``) as a LeRobot v3.0 dataset at ``out``.

    ``robot_type`` goes into info.json (null when empty). ``codec``: h264 (default), hevc or
    libsvtav1. ``out`` must not exist unless ``overwrite``. Returns a summary: where things
    went, episode/frame counts, the tasks, flagged and filled values, and the seconds taken.
    """
    import pyarrow as pa

    started = time.monotonic()
    root, out = os.path.abspath(root), os.path.abspath(out)
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite=True to replace it")
    if os.path.commonpath([root, out]) == out:
        raise ValueError(f"out ({out}) must not be the dataset ({root}) or a folder holding it")
    encoder = _check_encoder(codec)
    store = EpisodeStore(root)
    info = store.meta.get("info", {})
    episodes = [e for e in store.episodes if e.get("length", 0) > 0]
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
    n_state = store.features["state"].shape[0]
    n_action = store.features["action"].shape[0]
    video_keys = [f"observation.images.{c}" for c in cameras]

    features = {"action": {"dtype": "float32", "shape": [n_action],
                           "names": list(info["action_names"]) if info.get("action_names")
                           and len(info["action_names"]) == n_action else None},
                "observation.state": {"dtype": "float32", "shape": [n_state],
                                      "names": _state_names(info, n_state)}}
    for cam, key in zip(cameras, video_keys):
        ch, cw, cc = store.features[f"image_{cam}"].shape
        features[key] = {"dtype": "video", "shape": [ch, cw, cc],
                         "names": ["height", "width", "channels"], "info": None}
    features.update({k: dict(v) for k, v in INDEX_FEATURES.items()})

    tasks: dict[str, int] = {}
    for e in episodes:
        tasks.setdefault(e.get("task") or DEFAULT_TASK, len(tasks))

    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(out)}.partial-{os.getpid()}")
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    data_writer = _DataWriter(tmp, _data_schema(features))
    videos = {key: _VideoWriter(tmp, key, encoder, fps) for key in video_keys}
    rows: list[dict] = []
    ep_stats_all: list[dict] = []
    filled = {"observation.state": 0, "action": 0}
    flagged_total = 0
    total = 0
    try:
        for ep_index, e in enumerate(episodes):
            data = store.read(e["index"])
            n = len(data["action"])
            task = e.get("task") or DEFAULT_TASK
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
            ep_stats = {"action": _stats(action), "observation.state": _stats(state)}
            for cam, key in zip(cameras, video_keys):
                frames = data[f"image_{cam}"]
                row.update({f"videos/{key}/{k}": v
                            for k, v in videos[key].add_episode(frames).items()})
                ep_stats[key] = _image_stats(frames)
            for name in INDEX_FEATURES:  # LeRobot's timestamps are float64 when it computes
                ep_stats[name] = _stats(np.arange(n) / fps if name == "timestamp"
                                        else columns[name])
            for feat, st in ep_stats.items():
                for stat, value in st.items():
                    row[f"stats/{feat}/{stat}"] = np.asarray(value).tolist()
            row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
                        "success": bool(e.get("success", False)),
                        "source_episode": int(e["index"]), "flagged_frames": flagged})
            rows.append(row)
            ep_stats_all.append(ep_stats)
            total += n
        data_files = data_writer.close()
        video_files = {key: v.close() for key, v in videos.items()}
        for key in video_keys:
            features[key]["info"] = _video_info(os.path.join(tmp, video_files[key][0]))

        info_json = {
            "codebase_version": CODEBASE_VERSION, "robot_type": robot_type or None,
            "total_episodes": len(episodes), "total_frames": total, "total_tasks": len(tasks),
            "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
            "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB, "fps": fps,
            "splits": {"train": f"0:{len(episodes)}"}, "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if video_keys else None, "features": features}
        _write_json(os.path.join(tmp, INFO_PATH), info_json)
        stats = _aggregate_stats(ep_stats_all)
        _write_json(os.path.join(tmp, STATS_PATH),
                    {feat: {k: np.asarray(v).tolist() for k, v in st.items()}
                     for feat, st in stats.items()})
        _write_tasks(os.path.join(tmp, TASKS_PATH), tasks)
        episodes_path = os.path.join(tmp, EPISODES_PATH.format(chunk_index=0, file_index=0))
        os.makedirs(os.path.dirname(episodes_path), exist_ok=True)
        import pyarrow.parquet as pq

        table = pa.Table.from_pydict({k: [r[k] for r in rows] for k in rows[0]})
        pq.write_table(table, episodes_path, compression="snappy", use_dictionary=True)
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


# ---- checks and names ------------------------------------------------------------------------
def _check_encoder(codec: str) -> str:
    import av

    encoder = ENCODERS.get(codec)
    if encoder is None:
        raise ValueError(f"codec must be one of {sorted(ENCODERS)}, got {codec!r}")
    try:
        av.Codec(encoder, "w")
    except Exception as e:  # noqa: BLE001 - PyAV raises different errors across versions
        have = [c for c in sorted(set(ENCODERS.values())) if c in av.codecs_available]
        raise ValueError(f"this PyAV/FFmpeg build has no {encoder} encoder for codec "
                         f"{codec!r}; available: {have}") from e
    return encoder


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


# ---- statistics (LeRobot's compute_stats.py) -------------------------------------------------
def _sample_indices(n: int) -> np.ndarray:
    """LeRobot's frame subsample for image statistics (estimate_num_samples, sample_indices)."""
    k = max(min(100, n), min(int(n ** 0.75), 10_000))
    return np.round(np.linspace(0, n - 1, k)).astype(int)


def _quantile_stats(x: np.ndarray) -> dict[str, np.ndarray]:
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
        lo, hi = float(stats["min"][d]) - 1e-10, float(stats["max"][d]) + 1e-10
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


def _stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of a (N,) or (N, D) feature: shape (1,) or (D,) each, count (1,)."""
    x = values.reshape(len(values), -1)
    stats = _quantile_stats(x)
    stats["count"] = np.array([len(values)])
    return stats


def _image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel statistics in [0, 1], shape (3, 1, 1), over a subsample of (N, H, W, 3)
    frames (downsampled past 300 px like LeRobot); count is the number of frames sampled."""
    sample = frames[_sample_indices(len(frames))]
    h, w = sample.shape[1:3]
    if max(h, w) >= 300:
        f = int(max(h, w) / 150)
        sample = sample[:, ::f, ::f]
    stats = _quantile_stats(sample.reshape(-1, sample.shape[-1]))
    out = {k: (np.asarray(v, dtype=np.float64) / 255.0).reshape(-1, 1, 1)
           for k, v in stats.items()}
    out["count"] = np.array([len(sample)])
    return out


def _aggregate_stats(parts: list[dict]) -> dict[str, dict[str, np.ndarray]]:
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


# ---- writers ---------------------------------------------------------------------------------
def _next_file(chunk: int, file: int) -> tuple[int, int]:
    return (chunk + 1, 0) if file == CHUNKS_SIZE - 1 else (chunk, file + 1)


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
    boundary once the current one would pass DATA_FILES_SIZE_IN_MB."""

    def __init__(self, root: str, schema):
        self.root, self.schema = root, schema
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
        if self.writer is not None and (
                self.bytes + table.nbytes >= DATA_FILES_SIZE_IN_MB * 1024 ** 2):
            self.writer.close()
            self.writer = None
            self.chunk, self.file = _next_file(self.chunk, self.file)
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


class _VideoWriter:
    """One camera's frames, all episodes concatenated into videos/<key>/chunk-CCC/file-FFF.mp4.
    Frame k of a file has presentation time k / fps, so an episode starting at frame k has
    from_timestamp k / fps. A new file starts at an episode boundary once the current one would
    pass VIDEO_FILES_SIZE_IN_MB."""

    def __init__(self, root: str, key: str, encoder: str, fps: int):
        self.root, self.key, self.encoder, self.fps = root, key, encoder, fps
        self.chunk, self.file = 0, 0
        self.container = self.stream = self.path = None
        self.frames_in_file = 0
        self.episodes_in_file = 0
        self.paths: list[str] = []

    def _open(self, h: int, w: int) -> None:
        import av

        rel = VIDEO_PATH.format(video_key=self.key, chunk_index=self.chunk, file_index=self.file)
        self.path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.container = av.open(self.path, "w")
        self.stream = self.container.add_stream(
            self.encoder, rate=self.fps, options={"g": str(VIDEO_GOP), "crf": str(VIDEO_CRF),
                                                  **ENCODER_OPTIONS.get(self.encoder, {})})
        self.stream.width, self.stream.height, self.stream.pix_fmt = w, h, PIX_FMT
        self.stream.codec_context.time_base = fractions.Fraction(1, self.fps)
        self.frames_in_file = self.episodes_in_file = 0
        self.paths.append(rel)

    def _close_file(self) -> None:
        if self.container is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self.container.close()
            self.container = self.stream = None

    def add_episode(self, frames: np.ndarray) -> dict:
        import av

        n, h, w = frames.shape[:3]
        if self.container is not None and self.episodes_in_file:
            # the muxer creates the file at its first packet, after the encoder's lookahead
            size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
            if size + size / self.episodes_in_file >= VIDEO_FILES_SIZE_IN_MB * 1024 ** 2:
                self._close_file()
                self.chunk, self.file = _next_file(self.chunk, self.file)
        if self.container is None:
            self._open(h, w)
        start = self.frames_in_file
        time_base = fractions.Fraction(1, self.fps)
        try:
            for img in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                frame.pts, frame.time_base = self.frames_in_file, time_base
                for packet in self.stream.encode(frame):
                    self.container.mux(packet)
                self.frames_in_file += 1
        except av.FFmpegError as e:
            raise ValueError(f"{self.encoder} could not encode {w}x{h} frames of {self.key}: "
                             f"{e}") from e
        self.episodes_in_file += 1
        return {"chunk_index": self.chunk, "file_index": self.file,
                "from_timestamp": start / self.fps, "to_timestamp": self.frames_in_file / self.fps}

    def close(self) -> list[str]:
        self._close_file()
        return self.paths

    def abort(self) -> None:
        try:
            if self.container is not None:
                self.container.close()
        except Exception:  # noqa: BLE001 - cleaning up after another error
            pass
        self.container = self.stream = None


def _video_info(path: str) -> dict:
    """The ``info`` LeRobot's get_video_info records for a video feature."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        pix_fmt = stream.codec_context.pix_fmt or PIX_FMT
        return {"video.height": stream.height, "video.width": stream.width,
                "video.codec": stream.codec.canonical_name, "video.pix_fmt": pix_fmt,
                "video.is_depth_map": False, "video.fps": int(stream.base_rate),
                "video.channels": 3, "has_audio": len(container.streams.audio) > 0}


def _write_json(path: str, data) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=4, ensure_ascii=False)


def _write_tasks(path: str, tasks: dict[str, int]) -> None:
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
