"""LeRobot v3.0 export of a small synthetic dataset: layout, tables, videos, statistics."""

import fractions
import json
import os

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bc_ros.core.data.lerobot import export_lerobot
from bc_ros.core.data.recording import RecorderConfig
from bc_ros.core.data.store import EpisodeStore
from test.core.data.test_dataset import make_dataset

CAMERAS = ["left", "center", "right"]
VIDEO_KEYS = [f"observation.images.{c}" for c in CAMERAS]
EPISODES = "meta/episodes/chunk-000/file-000.parquet"
DATA = "data/chunk-000/file-000.parquet"


def make_store(root, tasks=("trail",), length=4, width=8, height=6, rate_hz=10.0,
               action_names=("vx", "vy", "vz", "yaw_rate")):
    """One episode per entry of ``tasks``; flat images, a different grey for every camera,
    episode and tick (far enough apart to tell neighbouring frames apart after encoding)."""
    cfg = RecorderConfig(dataset=str(root), image_width=width, image_height=height,
                         state_dim=2, record_executed=False, rate_hz=rate_hz,
                         action_names=list(action_names))
    store = EpisodeStore(str(root), cfg.features(), info=cfg.dataset_info())
    n = len(cfg.streams)
    for e, task in enumerate(tasks):
        w = store.begin({"task": task})
        for t in range(length):
            row = {f"image_{c}": np.full((height, width, 3), grey(e, t, i), np.uint8)
                   for i, c in enumerate(cfg.cameras)}
            row.update(state=np.array([e, t], np.float32),
                       action=np.full(len(action_names), t, np.float32),
                       time=t / rate_hz, stamps=np.zeros(n), skew=np.zeros(n, np.float32),
                       flags=np.zeros(n, np.uint8))
            w.append(row)
        w.finish(success=e % 2 == 0)
    return str(root)


def grey(episode, tick, camera):
    return (20 + 50 * camera + 24 * tick + 97 * episode) % 230


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("lerobot")
    root = make_dataset(base / "src", lengths=(5, 7))
    summary = export_lerobot(root, str(base / "out"), robot_type="drone")
    return root, summary["out"], summary


def read_json(out, rel):
    with open(os.path.join(out, rel)) as f:
        return json.load(f)


def decode(path):
    """Every frame of an mp4 as (presentation time in s, RGB array)."""
    import av

    with av.open(path) as c:
        return [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24"))
                for f in c.decode(c.streams.video[0])]


def test_layout_and_info_describe_the_dataset(exported):
    root, out, summary = exported
    for rel in ("meta/info.json", "meta/stats.json", "meta/tasks.parquet", EPISODES, DATA,
                *(f"videos/{k}/chunk-000/file-000.mp4" for k in VIDEO_KEYS)):
        assert os.path.isfile(os.path.join(out, rel)), rel
    assert (summary["episodes"], summary["frames"], summary["fps"]) == (2, 12, 10)
    assert summary["seconds"] > 0 and summary["data_files"] == [os.path.join(out, DATA)]
    assert not any(n.startswith(".out.partial") for n in os.listdir(os.path.dirname(out)))

    info = read_json(out, "meta/info.json")
    assert info["codebase_version"] == "v3.0" and info["robot_type"] == "drone"
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (2, 12, 1)
    assert (info["chunks_size"], info["data_files_size_in_mb"],
            info["video_files_size_in_mb"]) == (1000, 100, 500)
    assert info["fps"] == 10 and info["splits"] == {"train": "0:2"}
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == ("videos/{video_key}/chunk-{chunk_index:03d}/"
                                  "file-{file_index:03d}.mp4")
    feats = info["features"]
    assert feats["action"] == {"dtype": "float32", "shape": [4],
                               "names": ["vx", "vy", "vz", "yaw_rate"]}
    assert feats["observation.state"] == {"dtype": "float32", "shape": [2], "names": None}
    for key in VIDEO_KEYS:
        ft = feats[key]
        assert ft["dtype"] == "video" and ft["shape"] == [6, 8, 3]
        assert ft["names"] == ["height", "width", "channels"]
        assert ft["info"] == {"video.height": 6, "video.width": 8, "video.codec": "h264",
                              "video.pix_fmt": "yuv420p", "video.is_depth_map": False,
                              "video.fps": 10, "video.channels": 3, "has_audio": False}
    assert feats["timestamp"] == {"dtype": "float32", "shape": [1], "names": None}
    for key in ("frame_index", "episode_index", "index", "task_index"):
        assert feats[key] == {"dtype": "int64", "shape": [1], "names": None}


def test_data_rows_types_indices_and_episode_boundaries(exported):
    root, out, _ = exported
    table = pq.read_table(os.path.join(out, DATA))
    schema = table.schema
    assert schema.names == ["action", "observation.state", "timestamp", "frame_index",
                            "episode_index", "index", "task_index"]
    assert schema.field("action").type == pa.list_(pa.float32(), 4)
    assert schema.field("observation.state").type == pa.list_(pa.float32(), 2)
    assert schema.field("timestamp").type == pa.float32()
    for key in ("frame_index", "episode_index", "index", "task_index"):
        assert schema.field(key).type == pa.int64()
    hf = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert hf["action"] == {"feature": {"dtype": "float32", "_type": "Value"}, "length": 4,
                            "_type": "Sequence"}

    cols = table.to_pydict()
    assert cols["index"] == list(range(12))
    assert cols["frame_index"] == [*range(5), *range(7)]
    assert cols["episode_index"] == [0] * 5 + [1] * 7
    assert cols["task_index"] == [0] * 12
    np.testing.assert_allclose(cols["timestamp"], np.array(cols["frame_index"]) / 10, atol=1e-6)
    state = np.array(cols["observation.state"])
    store = EpisodeStore(root)
    np.testing.assert_array_equal(state[5:], store.read(1)["state"])
    np.testing.assert_array_equal(np.array(cols["action"])[:5], store.read(0)["action"])

    eps = pq.read_table(os.path.join(out, EPISODES)).to_pylist()
    assert [e["episode_index"] for e in eps] == [0, 1]
    assert [e["length"] for e in eps] == [5, 7] and [e["tasks"] for e in eps] == [["trail"]] * 2
    for e in eps:
        rows = range(e["dataset_from_index"], e["dataset_to_index"])
        assert len(rows) == e["length"]
        assert {cols["episode_index"][i] for i in rows} == {e["episode_index"]}
        assert cols["frame_index"][rows.start] == 0
        assert (e["data/chunk_index"], e["data/file_index"]) == (0, 0)
        assert (e["meta/episodes/chunk_index"], e["meta/episodes/file_index"]) == (0, 0)
        for key in VIDEO_KEYS:
            assert e[f"videos/{key}/from_timestamp"] == pytest.approx(
                e["dataset_from_index"] / 10)
            assert e[f"videos/{key}/to_timestamp"] == pytest.approx(e["dataset_to_index"] / 10)
    assert [e["success"] for e in eps] == [True, True]
    assert [e["source_episode"] for e in eps] == [0, 1]
    assert "stats/action/mean" in eps[0] and len(eps[0]["stats/action/mean"]) == 4


def test_tasks_table_maps_each_task_to_its_index(tmp_path):
    root = make_store(tmp_path / "src", tasks=("go left", "", "go left", "land"))
    summary = export_lerobot(root, str(tmp_path / "out"))
    out = summary["out"]
    tasks = pq.read_table(os.path.join(out, "meta/tasks.parquet"))
    mapping = dict(zip(tasks.column("task").to_pylist(), tasks.column("task_index").to_pylist()))
    assert mapping == {"go left": 0, "default task": 1, "land": 2}
    assert tasks.schema.field("task").type == pa.string()
    assert tasks.schema.field("task_index").type == pa.int64()
    assert tasks.schema.pandas_metadata["index_columns"] == ["task"]  # pd.read_parquet's index
    assert read_json(out, "meta/info.json")["total_tasks"] == 3
    eps = pq.read_table(os.path.join(out, EPISODES)).to_pylist()
    assert [e["tasks"] for e in eps] == [["go left"], ["default task"], ["go left"], ["land"]]
    assert [e["success"] for e in eps] == [True, False, True, False]
    data = pq.read_table(os.path.join(out, DATA)).to_pydict()
    assert data["task_index"] == [0] * 4 + [1] * 4 + [0] * 4 + [2] * 4


def test_videos_hold_every_frame_and_timestamps_locate_episodes(exported):
    root, out, _ = exported
    eps = pq.read_table(os.path.join(out, EPISODES)).to_pylist()
    store = EpisodeStore(root)
    for i, (cam, key) in enumerate(zip(CAMERAS, VIDEO_KEYS)):
        frames = decode(os.path.join(out, f"videos/{key}/chunk-000/file-000.mp4"))
        assert len(frames) == 12
        assert all(img.shape == (6, 8, 3) for _, img in frames)
        np.testing.assert_allclose([t for t, _ in frames], np.arange(12) / 10, atol=1e-4)
        # LeRobot asks for from_timestamp + timestamp and accepts frames within 1e-4 s
        start = eps[1][f"videos/{key}/from_timestamp"]
        first = [img for t, img in frames if abs(t - start) < 1e-4]
        assert len(first) == 1
        stored = store.read(1)[f"image_{cam}"][0]
        assert stored.max() == 10 * i
        assert np.abs(first[0].astype(float) - stored).mean() < 8
        last_t = start + 6 / 10
        last = [img for t, img in frames if abs(t - last_t) < 1e-4][0]
        assert np.abs(last.astype(float) - store.read(1)[f"image_{cam}"][6]).mean() < 8


def test_stats_cover_every_feature_like_lerobot(exported):
    root, out, _ = exported
    stats = read_json(out, "meta/stats.json")
    names = {"mean", "std", "min", "max", "count", "q01", "q10", "q50", "q90", "q99"}
    assert set(stats) == {"action", "observation.state", *VIDEO_KEYS, "timestamp",
                          "frame_index", "episode_index", "index", "task_index"}
    for feat, st in stats.items():
        assert set(st) == names, feat
    store = EpisodeStore(root)
    actions = np.concatenate([store.read(i)["action"] for i in (0, 1)])
    np.testing.assert_allclose(stats["action"]["mean"], actions.mean(0), atol=1e-6)
    np.testing.assert_allclose(stats["action"]["std"], actions.std(0), atol=1e-6)
    np.testing.assert_allclose(stats["action"]["max"], actions.max(0), atol=1e-6)
    assert stats["action"]["count"] == [12] and stats["index"]["max"] == [11]
    assert stats["timestamp"]["max"] == [pytest.approx(0.6)]
    right = np.array(stats["observation.images.right"]["mean"])
    assert right.shape == (3, 1, 1) and np.all((right > 0) & (right < 1))
    # right camera frames are 20 + t: per-channel mean in [0, 1]
    frames = np.concatenate([store.read(i)["image_right"] for i in (0, 1)])
    np.testing.assert_allclose(right.ravel(), frames.mean() / 255, atol=1e-6)
    assert np.array(stats["observation.images.left"]["q50"]).shape == (3, 1, 1)


def test_existing_output_is_refused_unless_overwrite(exported, tmp_path):
    root, _, _ = exported
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("stale")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_lerobot(root, str(out))
    assert (out / "old.txt").exists()
    summary = export_lerobot(root, str(out), overwrite=True)
    assert summary["frames"] == 12 and not (out / "old.txt").exists()
    assert (out / "meta" / "info.json").exists()
    with pytest.raises(ValueError, match="must not be the dataset"):
        export_lerobot(root, root, overwrite=True)
    assert os.path.exists(os.path.join(root, "meta.json"))


def test_flagged_rows_are_kept_and_nan_labels_are_filled(tmp_path):
    root = make_dataset(tmp_path / "src", lengths=(5, 7), flag_tick=(0, 2))
    with h5py.File(EpisodeStore(root).episode_path(0), "r+") as f:  # a missing label
        action = f["action"][()]
        action[3, 3] = np.nan
        f["action"][...] = action
    summary = export_lerobot(root, str(tmp_path / "out"))
    assert summary["frames"] == 12 and summary["flagged_frames"] == 1
    assert summary["filled_nonfinite"] == {"observation.state": 0, "action": 1}
    out = summary["out"]
    eps = pq.read_table(os.path.join(out, EPISODES)).to_pylist()
    assert [e["flagged_frames"] for e in eps] == [1, 0]
    exported_action = np.array(pq.read_table(os.path.join(out, DATA)).column("action")
                               .to_pylist())
    assert np.isfinite(exported_action).all()
    assert exported_action[3, 3] == pytest.approx(0.02)  # held from tick 2
    stats = read_json(out, "meta/stats.json")
    assert np.isfinite(stats["action"]["mean"]).all()


def test_unexportable_datasets_are_explained_and_leave_nothing(tmp_path):
    odd = make_store(tmp_path / "odd", width=7, height=6)
    with pytest.raises(ValueError, match="7x6.*even width and height"):
        export_lerobot(odd, str(tmp_path / "out"))
    slow = make_store(tmp_path / "slow", rate_hz=7.5)
    with pytest.raises(ValueError, match="integer fps.*7.5"):
        export_lerobot(slow, str(tmp_path / "out"))
    with pytest.raises(ValueError, match="codec must be one of"):
        export_lerobot(make_store(tmp_path / "ok"), str(tmp_path / "out"), codec="mjpeg")
    assert set(os.listdir(tmp_path)) == {"odd", "slow", "ok"}  # no output, no partial folder


def test_video_stream_reports_the_dataset_fps(exported):
    """torchcodec (LeRobot's default decoder) maps a timestamp to round(ts * average_fps)."""
    _, out, _ = exported
    import av

    key = VIDEO_KEYS[2]
    with av.open(os.path.join(out, f"videos/{key}/chunk-000/file-000.mp4")) as c:
        stream = c.streams.video[0]
        assert stream.average_rate == fractions.Fraction(10) and stream.frames == 12
        assert stream.codec_context.name == "h264"


def test_a_one_dimensional_action_is_a_plain_column_as_in_lerobot(tmp_path):
    """LeRobot maps shape [1] to a scalar Value column, not a list of one."""
    root = make_store(tmp_path / "src", tasks=("a", "b"), action_names=("yaw_rate",))
    out = export_lerobot(root, str(tmp_path / "out"))["out"]
    table = pq.read_table(os.path.join(out, DATA))
    assert table.schema.field("action").type == pa.float32()
    assert table.column("action").to_pylist() == [0.0, 1.0, 2.0, 3.0] * 2
    info = read_json(out, "meta/info.json")
    assert info["features"]["action"] == {"dtype": "float32", "shape": [1],
                                          "names": ["yaw_rate"]}
    assert read_json(out, "meta/stats.json")["action"]["mean"] == [1.5]


def test_every_decoded_frame_is_the_recorded_frame_its_timestamps_point_to(tmp_path):
    root = make_store(tmp_path / "src", tasks=("a", "b", "c"), length=4)
    out = export_lerobot(root, str(tmp_path / "out"))["out"]
    eps = pq.read_table(os.path.join(out, EPISODES)).to_pylist()
    data = pq.read_table(os.path.join(out, DATA)).to_pydict()
    for i, key in enumerate(VIDEO_KEYS):
        frames = decode(os.path.join(out, f"videos/{key}/chunk-000/file-000.mp4"))
        for row in range(12):   # LeRobot: from_timestamp of the episode + the row's timestamp
            e, t = data["episode_index"][row], data["frame_index"][row]
            when = eps[e][f"videos/{key}/from_timestamp"] + data["timestamp"][row]
            match = [img for ts, img in frames if abs(ts - when) < 1e-4]
            assert len(match) == 1, (key, row)
            assert np.abs(match[0].astype(float) - grey(e, t, i)).mean() < 8, (key, e, t)


def test_files_past_the_size_limits_continue_in_new_files(tmp_path, monkeypatch):
    """With limits of 0 MB every episode starts a new data and video file, as LeRobot does when
    a file is full; the episodes table must point each episode at its own files."""
    from bc_ros.core.data import lerobot

    monkeypatch.setattr(lerobot, "DATA_FILES_SIZE_IN_MB", 0)
    monkeypatch.setattr(lerobot, "VIDEO_FILES_SIZE_IN_MB", 0)
    root = make_store(tmp_path / "src", tasks=("a", "b", "c"), length=4)
    summary = export_lerobot(root, str(tmp_path / "out"))
    out = summary["out"]
    assert [os.path.relpath(p, out) for p in summary["data_files"]] == [
        f"data/chunk-000/file-00{i}.parquet" for i in range(3)]
    eps = pq.read_table(os.path.join(out, EPISODES)).to_pylist()
    assert [e["data/file_index"] for e in eps] == [0, 1, 2]
    index = [i for f in summary["data_files"] for i in pq.read_table(f).column("index")
             .to_pylist()]
    assert index == list(range(12))
    for i, key in enumerate(VIDEO_KEYS):
        assert len(summary["video_files"][key]) == 3
        for e in eps:
            assert e[f"videos/{key}/file_index"] == e["episode_index"]
            assert e[f"videos/{key}/from_timestamp"] == 0.0
            assert e[f"videos/{key}/to_timestamp"] == pytest.approx(0.4)
            frames = decode(os.path.join(out, f"videos/{key}/chunk-000/"
                                              f"file-{e['episode_index']:03d}.mp4"))
            assert len(frames) == 4
            for t, (_, img) in enumerate(frames):
                assert np.abs(img.astype(float) - grey(e["episode_index"], t, i)).mean() < 8


@pytest.mark.parametrize("codec", ["h264", "hevc", "libsvtav1"])
def test_every_keyframe_is_a_clean_seek_point_and_frames_are_in_display_order(tmp_path, codec):
    """LeRobot seeks to the keyframe at or before the frame it wants and decodes from there.
    x265 by default opens its GOPs (a keyframe's leading B-frame, shown before it, references the
    previous GOP) and reorders frames; LeRobot's torchcodec decoder then failed on 58 of 71 rows
    of a hevc export (FrameTimestampError, the nearest decodable frame one frame away)."""
    import av

    from bc_ros.core.data import lerobot

    if lerobot.ENCODERS[codec] not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {lerobot.ENCODERS[codec]} encoder")
    root = make_store(tmp_path / "src", tasks=("a", "b"), length=5, width=16, height=16)
    out = export_lerobot(root, str(tmp_path / "out"), codec=codec)["out"]
    for i, key in enumerate(VIDEO_KEYS):
        path = os.path.join(out, f"videos/{key}/chunk-000/file-000.mp4")
        with av.open(path) as c:
            stream = c.streams.video[0]
            packets = [p for p in c.demux(stream) if p.size]
            pts = [p.pts for p in packets]
            assert pts == sorted(pts), f"{codec}: frames are reordered (B-frames): {pts}"
            keyframes = [p.pts for p in packets if p.is_keyframe]
            assert keyframes[0] == pts[0] and max(np.diff(keyframes + [pts[-1] + 1])) <= 2 * (
                pts[1] - pts[0]), f"{codec}: a GOP longer than 2 frames: {keyframes}"
            for k in keyframes:          # seek to each keyframe alone: it and the next decode
                c.seek(k, stream=stream, backward=True, any_frame=False)
                got = [(f.pts, f.to_ndarray(format="rgb24")) for _, f in
                       zip(range(2), c.decode(stream))]
                assert got[0][0] == k, f"{codec}: seeking to keyframe {k} gave {got[0][0]}"
                for f_pts, img in got:
                    frame = round(float(f_pts * stream.time_base) * 10)
                    e, t = divmod(frame, 5)
                    assert np.abs(img.astype(float) - grey(e, t, i)).mean() < 8, (codec, frame)
