"""Does LeRobot's own ``LeRobotDataset`` load what ``bc-ros dataset export`` writes?

    python benchmarks/check_lerobot_load.py --lerobot-python /work/lerobot_env/bin/python \
        [--data /work/data/trail_clean --episodes 3] [--video-backend auto|pyav|torchcodec]
        [--codec h264|hevc|libsvtav1] [--split-files] [--keep FOLDER] [--json FILE]

Two halves, in two Pythons:

(a) here, with bc_ros: a small bc_ros dataset -- the first ``--episodes`` episodes of ``--data``
    (linked, not copied; the last one gets a second task string so that two tasks are exported),
    or without ``--data`` a synthetic one made with the episode store (3 cameras 96x96, two tasks,
    one NaN in a state and one in an action, which the export fills) -- is exported with
    ``bc-ros dataset export`` into a temporary folder, and the values LeRobot should read back are
    taken from the store.
(b) a child process with ``--lerobot-python`` (a Python with LeRobot installed: LeRobot needs
    torch, and 0.5+ needs Python >= 3.12, so it cannot live in this project's venv) loads it with
    ``LeRobotDataset(repo_id, root=...)``, offline (HF_HUB_OFFLINE=1, caches in the temporary
    folder), and checks: episodes/frames, fps, features (shapes, dtypes, names), item types,
    actions/states equal to the store's (first/last frame of every episode, then every row: no
    NaN left), the task strings and tasks table, the camera frames at the first and last frame of
    every episode with LeRobot's default decoder (torchcodec where it loads) and pyav (shape,
    range, error to the recorded frame, and that it is that frame and not a neighbour), every row
    in a random order (each frame its own), ``delta_timestamps`` windows (values and padding at
    episode edges, cameras included), meta/stats (and that they equal what LeRobot's own
    compute_episode_stats + aggregate_stats give on the loaded rows), loading a subset of
    episodes, and a DataLoader batch. Every check prints PASS or FAIL and the last line sums them
    up; the exit status is 1 if any failed. ``--codec`` exports hevc or AV1 instead of h264, and
    ``--split-files`` puts every episode in its own data/video files (how a large export is laid
    out), both through ``export_lerobot`` since the CLI offers neither.

Without ``--lerobot-python`` it prints how to set one up and exits 2. It is not a test: CI cannot
install LeRobot (torch, a CUDA build from PyPI, and Python >= 3.12 for current releases).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

REPO_ID = "bc_ros/lerobot_check"
SECOND_TASK = "trail (second task, set by check_lerobot_load)"
CHUNK = 10            # delta_timestamps: action chunk of CHUNK steps, state/cameras at -1 and 0
PIXEL_TOL = 12.0      # mean abs error (0..255) allowed between a decoded and a recorded frame

SETUP = """\
check_lerobot_load: no --lerobot-python given.

LeRobot cannot be installed in this project's venv (it needs torch, and from 0.5 on Python >=
3.12). Set up a separate Python with LeRobot, then pass it with --lerobot-python, e.g.:

  # a Python >= 3.12 (Debian 12's python3 is 3.11), e.g. pyenv's 3.12:
  python3.12 -m venv /work/lerobot_env
  /work/lerobot_env/bin/pip install 'lerobot[dataset]==0.6.1'    # torch: a CUDA build, ~5 GB
  # FFmpeg's shared libraries for torchcodec, LeRobot's default decoder (without them LeRobot
  # falls back to pyav, and so does this check):
  apt-get install libavdevice59 libavfilter8 libavformat59 libavcodec59 libavutil57 \\
      libswscale6 libswresample4

  # or on Python 3.10/3.11, LeRobot's last release for them, which reads the same v3.0 format:
  python3 -m venv /work/lerobot_env_0.4 && /work/lerobot_env_0.4/bin/pip install lerobot==0.4.4

  python benchmarks/check_lerobot_load.py --lerobot-python /work/lerobot_env/bin/python \\
      [--data /work/data/trail_clean --episodes 3]
"""


# ---- (a) this side: build, export, expectations --------------------------------------------
def subset_store(data: str, episodes: int, dst: str, second_task: bool = True) -> str:
    """A store at ``dst`` holding the first ``episodes`` episodes of ``data`` (files linked, not
    copied); with ``second_task`` the last one's task is changed so that two tasks are exported.
    ``data``'s meta.json is read, not opened as an ``EpisodeStore``, which would run its crash
    recovery on the user's dataset."""
    from bc_ros.core.data.lerobot import exported_episodes
    from bc_ros.core.data.store import META

    with open(os.path.join(data, META)) as f:
        meta = json.load(f)
    chosen = exported_episodes(meta["episodes"])[:episodes]
    if not chosen:
        raise SystemExit(f"{data} has no episode to export")
    if second_task and len(chosen) > 1:
        chosen[-1] = dict(chosen[-1], task=SECOND_TASK)
    os.makedirs(os.path.join(dst, "episodes"))
    for e in chosen:
        name = e.get("file") or f"episode_{e['index']:06d}.h5"
        os.symlink(os.path.abspath(os.path.join(data, "episodes", name)),
                   os.path.join(dst, "episodes", name))
    with open(os.path.join(dst, META), "w") as f:
        json.dump(dict(meta, episodes=chosen), f, indent=2)
    return dst


def synthetic_store(dst: str, lengths=(23, 31, 17)) -> str:
    """Three episodes with the recorder's default layout (cameras left/center/right at 96x96,
    odometry state 8, twist action 4, 10 Hz), smooth textures that move 4 px every tick (so
    neighbouring frames differ and compress like camera images), two tasks, one NaN in a state and one in an
    action in the middle of episode 1 (the export fills them)."""
    import numpy as np

    from bc_ros.core.data.recording import RecorderConfig
    from bc_ros.core.data.store import EpisodeStore

    cfg = RecorderConfig(dataset=dst, record_executed=False)
    store = EpisodeStore(dst, cfg.features(), info=cfg.dataset_info())
    rng = np.random.default_rng(0)
    n = len(cfg.streams)
    for e, length in enumerate(lengths):
        w = store.begin({"task": "trail" if e < 2 else SECOND_TASK})
        y, x = np.mgrid[0:cfg.image_height, 0:cfg.image_width] / 96.0
        textures = []
        for _ in cfg.cameras:  # a few random plane waves per channel, periodic in x
            tex = np.zeros((cfg.image_height, cfg.image_width, 3))
            for ch in range(3):
                for k in rng.integers(1, 4, size=(3, 2)):
                    tex[..., ch] += np.sin(2 * np.pi * (k[0] * x + k[1] * y)
                                           + rng.uniform(0, 2 * np.pi))
            textures.append(np.clip(128 + 40 * tex, 0, 255))
        for t in range(length):
            row = {f"image_{c}": np.roll(tex, 4 * t, axis=1).astype(np.uint8)
                   for c, tex in zip(cfg.cameras, textures)}
            state = rng.normal(size=cfg.state_dim).astype(np.float32)
            action = rng.normal(size=len(cfg.action_names)).astype(np.float32)
            if e == 1 and t == length // 2:
                state[2], action[1] = np.nan, np.nan
            row.update(state=state, action=action, time=t / cfg.rate_hz, stamps=np.zeros(n),
                       skew=np.zeros(n, np.float32), flags=np.zeros(n, np.uint8))
            w.append(row)
        w.finish(success=True)
    return dst


def export(src: str, out: str, robot_type: str, summary_path: str, codec: str = "h264",
           split_files: bool = False) -> dict:
    """``bc-ros dataset export SRC --out OUT`` as a user runs it (the CLI, in this Python).
    With another ``codec`` (which the CLI does not offer) or ``split_files``: ``export_lerobot``
    in this process instead; ``split_files`` sets the file size limits to 0 MB, so that every
    episode gets its own data and video files, as the episodes past the limits of a large
    export do (LeRobot then has to follow each episode's chunk/file indices)."""
    if split_files or codec != "h264":
        from bc_ros.core.data import lerobot
        from bc_ros.core.data.lerobot_meta import write_json

        limits = lerobot.DATA_FILES_SIZE_IN_MB, lerobot.VIDEO_FILES_SIZE_IN_MB
        if split_files:
            lerobot.DATA_FILES_SIZE_IN_MB = lerobot.VIDEO_FILES_SIZE_IN_MB = 0
        started = time.monotonic()
        try:
            summary = lerobot.export_lerobot(src, out, robot_type=robot_type, codec=codec)
        finally:
            lerobot.DATA_FILES_SIZE_IN_MB, lerobot.VIDEO_FILES_SIZE_IN_MB = limits
        if split_files:
            # info.json records the limits (0 here); LeRobot 0.5+ refuses a limit that is not
            # positive, and only a writer uses them (when to start a new file): put back the
            # real ones
            with open(summary["info"]) as f:
                info = json.load(f)
            info["data_files_size_in_mb"], info["video_files_size_in_mb"] = limits
            write_json(summary["info"], info)
        print(f"exported {summary['episodes']} episodes, {summary['frames']} frames "
              f"({summary['codec']}) into "
              f"{len(summary['data_files'])} data files and "
              f"{sum(map(len, summary['video_files'].values()))} video files "
              f"({time.monotonic() - started:.1f} s)")
        return summary
    cmd = [sys.executable, "-m", "bc_ros.cli", "dataset", "export", src, "--out", out,
           "--robot-type", robot_type, "--json", summary_path]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"export failed ({proc.returncode}): {' '.join(cmd)}\n"
                         f"{proc.stdout}{proc.stderr}")
    print(proc.stdout.strip(), f"({time.monotonic() - started:.1f} s)")
    with open(summary_path) as f:
        return json.load(f)


def expectations(src: str, summary: dict, path: str) -> None:
    """What LeRobot should read, from the store itself (not from the export): per exported
    episode its length, task, all actions/states (NaN where the store has one), and the recorded
    frames 0, 1, n-2, n-1 of every camera; the features' dtypes and shapes and the cameras'
    feature names as bc_ros maps the store to LeRobot. ``path`` gets an .npz and a .json beside
    it: the LeRobot side has no bc_ros to ask."""
    import numpy as np

    from bc_ros.core.data.lerobot import (episode_task, exported_episodes, lerobot_features,
                                          video_key)
    from bc_ros.core.data.store import EpisodeStore

    store = EpisodeStore(src)
    info = store.meta.get("info", {})
    episodes = exported_episodes(store.episodes)
    cameras = summary["cameras"]
    arrays, eps = {}, []
    for i, e in enumerate(episodes):
        data = store.read(e["index"])
        n = len(data["action"])
        arrays[f"action_{i}"] = data["action"].astype(np.float32)
        arrays[f"state_{i}"] = data["state"].astype(np.float32)
        picks = sorted({0, min(1, n - 1), max(n - 2, 0), n - 1})
        for c in cameras:
            arrays[f"frames_{c}_{i}"] = data[f"image_{c}"][picks]
            arrays[f"thumbs_{c}_{i}"] = thumbnails(data[f"image_{c}"])
        arrays[f"picks_{i}"] = np.array(picks)
        eps.append({"length": n, "task": episode_task(e), "source_episode": e["index"]})
    h, w, ch = store.features[f"image_{cameras[0]}"].shape
    features = {k: {"dtype": ft["dtype"], "shape": ft["shape"]}
                for k, ft in lerobot_features(store).items()}
    np.savez_compressed(path + ".npz", **arrays)
    with open(path + ".json", "w") as f:
        json.dump({"fps": summary["fps"], "episodes": eps, "cameras": cameras,
                   "video_keys": [video_key(c) for c in cameras],
                   "features": features, "action_names": info.get("action_names"),
                   "tasks": summary["tasks"], "image_shape": [h, w, ch],
                   "filled_nonfinite": summary["filled_nonfinite"]}, f, indent=2)


def thumbnails(frames):
    """(N, H, W, 3) uint8 -> (N, 12, 12, 3) float32 block means: enough to tell a frame from its
    neighbours, small enough to ship every frame's to the LeRobot side."""
    import numpy as np

    n, h, w, c = frames.shape
    bh, bw = max(h // 12, 1), max(w // 12, 1)
    f = frames[:, :bh * (h // bh), :bw * (w // bw)].astype(np.float32)
    return f.reshape(n, h // bh, bh, w // bw, bw, c).mean(axis=(2, 4))


def parent(args) -> int:
    python = args.lerobot_python
    if os.sep in python:
        python = os.path.abspath(python)  # the child runs in the temporary folder
    if not shutil.which(python):
        print(f"--lerobot-python {args.lerobot_python}: no such Python\n\n{SETUP}",
              file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="bc_ros_lerobot_check_")
    try:
        src = os.path.join(tmp, "src")
        if args.data:
            subset_store(args.data, args.episodes, src)
            print(f"source: first {args.episodes} episodes of {args.data} (last one with a "
                  f"second task)")
        else:
            synthetic_store(src)
            print("source: synthetic store (3 episodes, 3 cameras 96x96, 2 tasks, 2 NaN)")
        out = os.path.join(args.keep or tmp, "lerobot")
        if args.keep and os.path.exists(out):
            shutil.rmtree(out)
        summary = export(src, out, args.robot_type, os.path.join(tmp, "summary.json"),
                         codec=args.codec, split_files=args.split_files)
        expect = os.path.join(tmp, "expect")
        expectations(src, summary, expect)
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                   HF_HOME=os.path.join(tmp, "hf"),
                   HF_LEROBOT_HOME=os.path.join(tmp, "hf", "lerobot"),
                   TOKENIZERS_PARALLELISM="false")
        env.pop("PYTHONPATH", None)  # the child must not see this project's packages
        cmd = [python, os.path.abspath(__file__), "--child", "--root", out,
               "--expect", expect, "--video-backend", args.video_backend]
        if args.json:
            cmd += ["--json", os.path.abspath(args.json)]
        print(f"loading with {args.lerobot_python} (offline)", flush=True)
        return subprocess.run(cmd, env=env, cwd=tmp, check=False).returncode
    finally:
        if args.keep:
            print(f"kept the export in {os.path.join(args.keep, 'lerobot')}")
        shutil.rmtree(tmp, ignore_errors=True)


# ---- (b) the LeRobot side --------------------------------------------------------------------
class Checks:
    def __init__(self):
        self.results: list[dict] = []

    def run(self, name: str, fn) -> object:
        """Run ``fn`` (returns a detail string, raises AssertionError or anything on failure)."""
        started = time.monotonic()
        try:
            detail = fn() or ""
            ok = True
        except Exception as e:  # noqa: BLE001 - a failed check, reported and counted
            ok = False
            tb = traceback.extract_tb(e.__traceback__)
            where = f" [{os.path.basename(tb[-1].filename)}:{tb[-1].lineno}]" if tb else ""
            detail = f"{type(e).__name__}: {e}{where}"
        seconds = time.monotonic() - started
        self.results.append({"check": name, "ok": ok, "detail": detail, "seconds": seconds})
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)
        return ok


def child(args) -> int:
    import importlib.metadata

    import numpy as np
    import torch

    with open(args.expect + ".json") as f:
        ex = json.load(f)
    arrays = dict(np.load(args.expect + ".npz"))
    version = importlib.metadata.version("lerobot")
    print(f"LeRobot {version}, torch {torch.__version__}, Python "
          f"{sys.version.split()[0]}, dataset {args.root}")
    from lerobot.datasets import video_utils
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    # LeRobot's own choice of decoder: torchcodec where it loads (0.5+ checks; 0.4 only looks)
    default = getattr(video_utils, "get_safe_default_video_backend", None) or getattr(
        video_utils, "get_safe_default_codec", lambda: "pyav")
    default_backend = default()
    if args.video_backend == "auto":
        backends = [default_backend] + (["pyav"] if default_backend != "pyav" else [])
    else:
        backends = [args.video_backend]
    checks = Checks()
    fps = ex["fps"]
    eps = ex["episodes"]
    cams = ex["cameras"]
    vkeys = ex["video_keys"]
    n_frames = sum(e["length"] for e in eps)
    starts = np.cumsum([0] + [e["length"] for e in eps])
    state = {}

    def load():
        state["ds"] = LeRobotDataset(REPO_ID, root=args.root, video_backend=backends[0])
        return f"LeRobotDataset(repo_id={REPO_ID!r}, root=..., video_backend={backends[0]!r})"

    if not checks.run("load", load):
        return finish(checks, args, version)
    ds = state["ds"]
    meta = ds.meta

    def counts():
        got = (ds.num_episodes, ds.num_frames, len(ds), meta.total_episodes, meta.total_frames)
        want = (len(eps), n_frames, n_frames, len(eps), n_frames)
        assert got == want, f"(num_episodes, num_frames, len, total_episodes, total_frames) " \
                            f"{got} != {want}"
        lengths = [int(x) for x in meta.episodes["length"]]
        assert lengths == [e["length"] for e in eps], f"lengths {lengths}"
        return f"{len(eps)} episodes, {n_frames} frames, lengths {lengths}"

    def fps_check():
        assert ds.fps == fps and meta.fps == fps, f"fps {ds.fps}/{meta.fps} != {fps}"
        return f"fps {ds.fps}"

    def features():
        got = meta.features
        assert set(got) == set(ex["features"]), \
            f"keys {sorted(got)} != {sorted(ex['features'])}"
        for k, want in ex["features"].items():
            assert got[k]["dtype"] == want["dtype"], f"{k} dtype {got[k]['dtype']}"
            assert tuple(got[k]["shape"]) == tuple(want["shape"]), f"{k} shape {got[k]['shape']}"
        assert list(meta.video_keys) == vkeys, f"video keys {meta.video_keys}"
        if ex["action_names"]:
            assert list(got["action"]["names"]) == ex["action_names"], got["action"]["names"]
        return "; ".join(f"{k} {got[k]['dtype']}{list(got[k]['shape'])}"
                         for k in ["action", "observation.state", *vkeys])

    def item_types():
        """ds[0] has every feature in its dtype, a shape-[1] one as a scalar, a camera as a
        float32 (C, H, W) image."""
        item = ds[0]
        want = {}
        for k, ft in ex["features"].items():
            if ft["dtype"] == "video":
                fh, fw, fc = ft["shape"]
                want[k] = (torch.float32, (fc, fh, fw))
            else:
                want[k] = (getattr(torch, ft["dtype"]),
                           tuple(ft["shape"]) if ft_is_vector(ft) else ())
        h, w, c = ex["image_shape"]
        for k, (dtype, shape) in want.items():
            assert k in item, f"{k} missing from ds[0] (keys {sorted(item)})"
            assert item[k].dtype == dtype, f"{k} dtype {item[k].dtype} != {dtype}"
            assert tuple(item[k].shape) == shape, f"{k} shape {tuple(item[k].shape)} != {shape}"
        assert isinstance(item.get("task"), str), f"task {item.get('task')!r}"
        return f"ds[0]: {len(item)} keys, images float32 {(c, h, w)}, task {item['task']!r}"

    def values_and_tasks():
        worst = {"action": 0.0, "observation.state": 0.0}
        for e, (ep, s) in enumerate(zip(eps, starts)):
            for j in sorted({0, ep["length"] - 1}):
                item = ds[int(s + j)]
                assert int(item["episode_index"]) == e and int(item["frame_index"]) == j, \
                    f"ds[{s + j}] is episode {int(item['episode_index'])} frame " \
                    f"{int(item['frame_index'])}, want {e}/{j}"
                assert int(item["index"]) == s + j
                assert abs(float(item["timestamp"]) - j / fps) < 1e-4, float(item["timestamp"])
                assert item["task"] == ep["task"], f"episode {e} task {item['task']!r} != " \
                                                   f"{ep['task']!r}"
                for key, name in (("action", "action"), ("observation.state", "state")):
                    want = arrays[f"{name}_{e}"][j]
                    fin = np.isfinite(want)
                    diff = np.abs(item[key].numpy()[fin] - want[fin])
                    worst[key] = max(worst[key], float(diff.max(initial=0.0)))
        assert worst["action"] == 0.0 and worst["observation.state"] == 0.0, worst
        return (f"first/last frame of each episode: max |action diff| {worst['action']:g}, "
                f"max |state diff| {worst['observation.state']:g}; tasks "
                f"{[e['task'] for e in eps]}")

    def all_values():
        """Every row of the data table (no video) against the store, NaN-filled rows aside."""
        hf = ds.hf_dataset.with_format("numpy")
        worst, filled = {}, {}
        for key, name in (("action", "action"), ("observation.state", "state")):
            col = np.stack(hf[key]).astype(np.float32)
            want = np.concatenate([arrays[f"{name}_{e}"] for e in range(len(eps))])
            assert col.shape == want.shape, f"{key} {col.shape} != {want.shape}"
            assert np.isfinite(col).all(), f"{key} has non-finite values in LeRobot"
            fin = np.isfinite(want)
            worst[key] = float(np.abs(col[fin] - want[fin]).max(initial=0.0))
            filled[key] = int((~fin).sum())
        assert max(worst.values()) == 0.0, worst
        return f"all {n_frames} rows: max |diff| {worst}; all finite; NaN filled in store " \
               f"{filled} (export says {ex['filled_nonfinite']})"

    def task_table():
        tasks = meta.tasks
        names = list(tasks.index)
        assert names == ex["tasks"], f"meta/tasks {names} != {ex['tasks']}"
        assert [int(i) for i in tasks["task_index"]] == list(range(len(names)))
        per_ep = [list(t) for t in meta.episodes["tasks"]]
        assert per_ep == [[e["task"]] for e in eps], f"episodes' tasks {per_ep}"
        return f"{len(names)} tasks {names}"

    def frames(backend):
        def fn():
            d = ds if backend == backends[0] else LeRobotDataset(
                REPO_ID, root=args.root, video_backend=backend)
            errs, wrong = [], []
            for e, (ep, s) in enumerate(zip(eps, starts)):
                picks = [int(p) for p in arrays[f"picks_{e}"]]
                for j in sorted({0, ep["length"] - 1}):
                    item = d[int(s + j)]
                    for c, k in zip(cams, vkeys):
                        img = item[k]
                        h, w, ch = ex["image_shape"]
                        assert tuple(img.shape) == (ch, h, w), f"{k} {tuple(img.shape)}"
                        assert img.dtype == torch.float32 and 0 <= img.min() and img.max() <= 1
                        got = img.permute(1, 2, 0).numpy() * 255.0
                        rec = arrays[f"frames_{c}_{e}"].astype(np.float64)
                        err = [float(np.abs(got - r).mean()) for r in rec]
                        mine = err[picks.index(j)]
                        errs.append(mine)
                        if min(err) < mine - 1e-6:
                            wrong.append(f"ep {e} frame {j} {c}: closest to recorded frame "
                                         f"{picks[int(np.argmin(err))]} ({min(err):.2f} < "
                                         f"{mine:.2f})")
            assert not wrong, "; ".join(wrong[:4])
            assert max(errs) <= PIXEL_TOL, f"max mean abs pixel error {max(errs):.2f}"
            return (f"{len(errs)} frames ({len(cams)} cameras x first/last of {len(eps)} "
                    f"episodes) decode to {tuple(img.shape)}; mean abs error to the recorded "
                    f"frame (0-255) mean {np.mean(errs):.2f}, max {max(errs):.2f}")
        return fn

    def every_frame():
        """Every row in a random order (seeks forwards and backwards, as a shuffled training
        loader does), every camera: it decodes, and it is the recorded frame of that row, not a
        neighbour (compared on 12x12 block means)."""
        order = np.random.default_rng(0).permutation(n_frames)
        errors, wrong, worst = [], [], 0.0
        started = time.monotonic()
        for i in order:
            e = int(np.searchsorted(starts, i, side="right") - 1)
            j = int(i - starts[e])
            try:
                item = ds[int(i)]
            except Exception as exc:  # noqa: BLE001 - counted, a few shown
                errors.append(f"row {i} (ep {e} frame {j}): {type(exc).__name__}: "
                              f"{str(exc)[:120]}")
                continue
            for c, k in zip(cams, vkeys):
                got = thumbnails_t(item[k])
                rec = arrays[f"thumbs_{c}_{e}"]
                near = [x for x in (j - 1, j, j + 1) if 0 <= x < len(rec)]
                err = {x: float(np.abs(got - rec[x]).mean()) for x in near}
                worst = max(worst, err[j])
                if min(err.values()) < err[j] - 1e-6:
                    wrong.append(f"row {i} ep {e} frame {j} {c}: closest to frame "
                                 f"{min(err, key=err.get)}")
        seconds = time.monotonic() - started
        assert not errors, f"{len(errors)} of {n_frames} rows fail: {errors[:3]}"
        assert not wrong, f"{len(wrong)} frames are a neighbour's: {wrong[:3]}"
        assert worst <= PIXEL_TOL, f"block-mean error up to {worst:.2f}"
        return (f"{n_frames} rows x {len(cams)} cameras in random order with "
                f"{backends[0]}: each its recorded frame (block-mean error max {worst:.2f}); "
                f"{n_frames / seconds:.0f} rows/s")

    def windows():
        delta = {"action": [i / fps for i in range(CHUNK)],
                 "observation.state": [-1 / fps, 0.0], **{k: [-1 / fps, 0.0] for k in vkeys}}
        d = LeRobotDataset(REPO_ID, root=args.root, video_backend=backends[0],
                           delta_timestamps=delta)
        h, w, ch = ex["image_shape"]
        errs = []
        for e, (ep, s) in enumerate(zip(eps, starts)):
            n = ep["length"]
            for j in sorted({0, 1, n - 1}):
                item = d[int(s + j)]
                a = item["action"].numpy()
                assert a.shape == (CHUNK, len(arrays[f"action_{e}"][0])), a.shape
                idx = [min(j + i, n - 1) for i in range(CHUNK)]
                want = arrays[f"action_{e}"][idx]
                fin = np.isfinite(want)
                assert np.array_equal(a[fin], want[fin]), f"ep {e} frame {j} action window"
                pad = [j + i >= n for i in range(CHUNK)]
                assert item["action_is_pad"].tolist() == pad, \
                    f"ep {e} frame {j} action_is_pad {item['action_is_pad'].tolist()} != {pad}"
                st = item["observation.state"].numpy()
                assert st.shape == (2, len(arrays[f"state_{e}"][0])), st.shape
                want = arrays[f"state_{e}"][[max(j - 1, 0), j]]
                fin = np.isfinite(want)
                assert np.array_equal(st[fin], want[fin]), f"ep {e} frame {j} state window"
                assert item["observation.state_is_pad"].tolist() == [j == 0, False]
                picks = [int(p) for p in arrays[f"picks_{e}"]]
                for c, k in zip(cams, vkeys):
                    v = item[k]
                    assert tuple(v.shape) == (2, ch, h, w), f"{k} {tuple(v.shape)}"
                    assert item[f"{k}_is_pad"].tolist() == [j == 0, False]
                    for slot, frame in enumerate([max(j - 1, 0), j]):
                        if frame in picks:
                            rec = arrays[f"frames_{c}_{e}"][picks.index(frame)]
                            errs.append(float(np.abs(v[slot].permute(1, 2, 0).numpy() * 255.0
                                                     - rec).mean()))
        assert max(errs) <= PIXEL_TOL, f"max window pixel error {max(errs):.2f}"
        return (f"action [{CHUNK}] chunk, state/cameras at -1/fps and 0: values and *_is_pad "
                f"right at frames 0, 1, n-1 of every episode; camera window pixel error max "
                f"{max(errs):.2f}")

    def stats():
        st = meta.stats
        assert st is not None, "meta.stats is None"
        missing = [k for k in ["action", "observation.state", *vkeys] if k not in st]
        assert not missing, f"no stats for {missing}"
        ch = ex["image_shape"][2]
        for k in vkeys:
            for s in ("mean", "std", "min", "max"):
                assert np.asarray(st[k][s]).shape == (ch, 1, 1), f"{k} {s} " \
                                                               f"{np.asarray(st[k][s]).shape}"
            assert 0 <= np.asarray(st[k]["min"]).min() and np.asarray(st[k]["max"]).max() <= 1
        col = np.stack(ds.hf_dataset.with_format("numpy")["action"]).astype(np.float64)
        for s, fn in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max)):
            got = np.asarray(st["action"][s], dtype=np.float64)
            assert got.shape == (col.shape[1],), f"action {s} shape {got.shape}"
            assert np.allclose(got, fn(col, axis=0), atol=1e-5), f"action {s} {got}"
        keys = sorted(st["action"])
        return f"action/state/camera stats load ({', '.join(keys)}); action mean/std/min/max " \
               f"match the data; camera stats (3,1,1) in [0,1]"

    def stats_like_lerobot():
        """meta/stats against LeRobot's own compute_episode_stats + aggregate_stats on the
        loaded rows (the numeric features; the cameras' are computed from the recorded frames
        and are checked for shape and range above)."""
        from lerobot.datasets.compute_stats import aggregate_stats, compute_episode_stats

        hf = ds.hf_dataset.with_format("numpy")
        keys = [k for k, ft in meta.features.items() if ft["dtype"] not in ("video", "image")]
        cols = {k: np.asarray(np.stack(hf[k]) if ft_is_vector(meta.features[k]) else hf[k])
                for k in keys}
        # LeRobot's recorder computes them from its float64 timestamps (frame_index / fps),
        # not from the float32 column it writes
        cols["timestamp"] = cols["frame_index"].astype(np.float64) / fps
        # in float64: on float32 rows LeRobot's std loses digits (trail's altitude, mean 1.2,
        # std 0.0137: 1.3% off), while the export's are exact
        cols = {k: v.astype(np.float64) for k, v in cols.items()}
        per_ep = [compute_episode_stats({k: cols[k][s:s + ep["length"]] for k in keys},
                                        {k: meta.features[k] for k in keys})
                  for ep, s in zip(eps, starts)]
        want = aggregate_stats(per_ep)
        # count/min/max/mean/std: equal up to float32 rounding; the quantiles come from
        # LeRobot's RunningQuantileStats, 5000-bin histograms that it re-bins as batches widen
        # the range, so they agree to a couple of bins of the feature's range
        worst, worst_bins, bad = 0.0, 0.0, []
        for k in keys:
            lo = np.asarray(want[k]["min"], dtype=np.float64)
            hi = np.asarray(want[k]["max"], dtype=np.float64)
            bin_width = np.maximum((hi - lo) / 5000, 1e-12)
            for stat, value in want[k].items():
                got = np.asarray(meta.stats[k][stat], dtype=np.float64)
                value = np.asarray(value, dtype=np.float64)
                assert got.shape == value.shape, f"{k}/{stat} shape {got.shape} != {value.shape}"
                diff = np.abs(got - value)
                if stat.startswith("q"):
                    bins = float((diff / bin_width).max())
                    worst_bins = max(worst_bins, bins)
                    if bins > 2:
                        bad.append(f"{k}/{stat} off by {bins:.1f} bins")
                else:
                    rel = float((diff / np.maximum(np.abs(value), 1.0)).max())
                    worst = max(worst, rel)
                    if rel > 1e-5:
                        bad.append(f"{k}/{stat} off by {rel:.1e} (relative)")
        assert not bad, "; ".join(bad)
        return (f"{len(keys)} features x {sorted(want[keys[0]])}: count/min/max/mean/std "
                f"within {worst:.1e} (relative), quantiles within {worst_bins:.2f} of a "
                f"histogram bin")

    def episode_subset():
        pick = sorted({1 % len(eps), len(eps) - 1})
        d = LeRobotDataset(REPO_ID, root=args.root, episodes=pick, video_backend=backends[0])
        n = sum(eps[e]["length"] for e in pick)
        assert (d.num_episodes, d.num_frames, len(d)) == (len(pick), n, n), \
            (d.num_episodes, d.num_frames, len(d))
        errs = []
        for pos, e, j in ((0, pick[0], 0), (n - 1, pick[-1], eps[pick[-1]]["length"] - 1)):
            item = d[pos]
            assert (int(item["episode_index"]), int(item["frame_index"])) == (e, j), \
                (int(item["episode_index"]), int(item["frame_index"]))
            assert np.array_equal(item["action"].numpy(), arrays[f"action_{e}"][j])
            picks = [int(p) for p in arrays[f"picks_{e}"]]
            for c, k in zip(cams, vkeys):
                rec = arrays[f"frames_{c}_{e}"][picks.index(j)]
                errs.append(float(np.abs(item[k].permute(1, 2, 0).numpy() * 255.0 - rec).mean()))
        assert max(errs) <= PIXEL_TOL, f"pixel error {max(errs):.2f}"
        return f"episodes={pick}: {n} frames; first/last rows and frames right (pixel error " \
               f"max {max(errs):.2f})"

    def loader():
        dl = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, num_workers=0)
        batch = next(iter(dl))
        h, w, ch = ex["image_shape"]
        assert tuple(batch[vkeys[0]].shape) == (8, ch, h, w), tuple(batch[vkeys[0]].shape)
        assert tuple(batch["action"].shape) == (8, ex["features"]["action"]["shape"][0])
        assert len(batch["task"]) == 8
        return f"DataLoader batch of 8: {vkeys[0]} {tuple(batch[vkeys[0]].shape)}, action " \
               f"{tuple(batch['action'].shape)}"

    checks.run("episodes and frames", counts)
    checks.run("fps", fps_check)
    checks.run("features", features)
    checks.run("item dtypes and shapes", item_types)
    checks.run("actions/states/tasks at first and last frames", values_and_tasks)
    checks.run("actions/states of every row", all_values)
    checks.run("tasks table", task_table)
    for backend in backends:
        checks.run(f"camera frames ({backend})", frames(backend))
    if args.video_backend == "auto" and default_backend == "pyav":
        print("note: torchcodec is not usable here, so only the pyav backend was checked")
    checks.run("every frame, random order", every_frame)
    checks.run("delta_timestamps windows", windows)
    checks.run("meta/stats", stats)
    checks.run("stats as LeRobot computes them", stats_like_lerobot)
    checks.run("episode subset", episode_subset)
    checks.run("DataLoader", loader)
    return finish(checks, args, version)


def thumbnails_t(img):
    """A decoded (3, H, W) float image in [0, 1] as ``thumbnails`` makes them."""
    return thumbnails((img.permute(1, 2, 0).numpy() * 255.0)[None])[0]


def ft_is_vector(ft: dict) -> bool:
    return tuple(ft["shape"]) != (1,)


def finish(checks: Checks, args, version: str) -> int:
    passed = sum(r["ok"] for r in checks.results)
    failed = len(checks.results) - passed
    print(f"LeRobot {version} load check: {passed} passed, {failed} failed -> "
          f"{'PASS' if not failed else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"lerobot": version, "python": sys.version.split()[0],
                       "checks": checks.results, "passed": passed, "failed": failed}, f,
                      indent=2)
    return 1 if failed else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lerobot-python", help="a Python with LeRobot installed (see above)")
    p.add_argument("--data", help="a bc_ros dataset to take episodes from (default: a small "
                                  "synthetic one)")
    p.add_argument("--episodes", type=int, default=3, help="with --data: how many (the first)")
    p.add_argument("--robot-type", default="drone")
    p.add_argument("--video-backend", default="auto", choices=["auto", "pyav", "torchcodec"],
                   help="auto: LeRobot's default (torchcodec where it loads) and pyav")
    p.add_argument("--codec", default="h264", choices=["h264", "hevc", "libsvtav1"],
                   help="video codec of the export (h264: the CLI's; the others through "
                        "export_lerobot)")
    p.add_argument("--split-files", action="store_true",
                   help="every episode in its own data/video files (size limits at 0 MB), "
                        "as the files of a large export are split")
    p.add_argument("--keep", help="export into this folder (FOLDER/lerobot) and keep it")
    p.add_argument("--json", help="write the checks' results to this file")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.add_argument("--expect", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    if not args.lerobot_python:
        print(SETUP, file=sys.stderr)
        return 2
    return parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
