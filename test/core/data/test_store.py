"""The episode store: atomic commit, recovery after SIGKILL, never touching finished episodes."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bc_ros.core.data.store import EpisodeStore

FEATURES = {"image": ((8, 8, 3), "uint8"), "action": ((2,), "float32")}


def row(k):
    return {"image": np.full((8, 8, 3), k % 256, np.uint8),
            "action": np.array([k, -k], np.float32)}


def record(store, n, success=True, **attrs):
    w = store.begin(attrs)
    for k in range(n):
        w.append(row(k))
    return w.finish(success)


def test_episodes_are_published_with_summaries(tmp_path):
    store = EpisodeStore(str(tmp_path), FEATURES, info={"rate_hz": 10})
    s0 = record(store, 5, task="trail")
    s1 = record(store, 3, success=False, task="bypass")
    assert (s0["index"], s0["length"], s0["success"], s0["task"]) == (0, 5, True, "trail")
    assert s1["index"] == 1 and not s1["success"]
    reopened = EpisodeStore(str(tmp_path))
    assert [e["length"] for e in reopened.episodes] == [5, 3]
    data = reopened.read(0)
    assert data["action"].shape == (5, 2) and data["action"][4].tolist() == [4, -4]
    assert list(reopened.read(0, ["action"])) == ["action"]    # one column, no cameras
    with pytest.raises(KeyError, match="no features"):
        reopened.read(0, ["control"])
    assert sorted(os.listdir(tmp_path / "episodes")) == ["episode_000000.h5",
                                                         "episode_000001.h5"]


def test_discarded_episode_leaves_nothing_and_numbering_goes_on(tmp_path):
    store = EpisodeStore(str(tmp_path), FEATURES)
    w = store.begin()
    w.append(row(0))
    w.discard()
    assert record(store, 2)["index"] == 0
    assert os.listdir(tmp_path / "episodes") == ["episode_000000.h5"]


def test_rows_must_match_the_features(tmp_path):
    w = EpisodeStore(str(tmp_path), FEATURES).begin()
    with pytest.raises(ValueError, match="missing \\['action'\\]"):
        w.append({"image": row(0)["image"]})
    with pytest.raises(ValueError, match="'action' must have shape \\(2,\\)"):
        w.append({**row(0), "action": np.zeros(3)})


def test_resuming_with_different_features_is_refused(tmp_path):
    EpisodeStore(str(tmp_path), FEATURES)
    with pytest.raises(ValueError, match="image: dataset has .* recorder wants"):
        EpisodeStore(str(tmp_path), {**FEATURES, "image": ((16, 16, 3), "uint8")})


CRASHER = textwrap.dedent("""
    import sys, numpy as np
    from bc_ros.core.data.store import EpisodeStore
    store = EpisodeStore(sys.argv[1], {"image": ((8, 8, 3), "uint8"),
                                       "action": ((2,), "float32")})
    w = store.begin({"task": "trail"}, flush_every=10)
    for k in range(10_000_000):
        w.append({"image": np.full((8, 8, 3), k % 256, np.uint8),
                  "action": np.array([k, -k], np.float32)})
        if k == 45:
            print("ready", flush=True)
""")


def test_sigkill_mid_episode_loses_at_most_that_episode(tmp_path):
    store = EpisodeStore(str(tmp_path), FEATURES)
    record(store, 4, task="finished")
    before = (tmp_path / "episodes" / "episode_000000.h5").read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any(n.endswith(".partial") for n in os.listdir(tmp_path / "episodes"))

    store = EpisodeStore(str(tmp_path), FEATURES)
    # The finished episode is untouched, byte for byte.
    assert (tmp_path / "episodes" / "episode_000000.h5").read_bytes() == before
    assert not any(n.endswith(".partial") for n in os.listdir(tmp_path / "episodes"))
    # What was flushed (every 10 rows) is kept, flagged, consistent across features.
    assert store.recovered == [1] and not store.quarantined
    ep = store.episodes[1]
    assert ep["recovered"] and not ep["success"] and ep["length"] >= 40
    assert ep["task"] == "trail" and ep["file"] == "episode_000001.h5"
    data = store.read(1)
    assert len(data["image"]) == len(data["action"]) == ep["length"]
    np.testing.assert_array_equal(data["action"][:, 0], np.arange(ep["length"]))
    assert record(store, 1)["index"] == 2  # numbering continues after the leftover


def test_opening_the_dataset_while_an_episode_is_recorded_leaves_it_alone(tmp_path):
    # e.g. `bc-ros dataset info` in another terminal while the recorder runs: the live
    # .partial file is not a crash's leftover, and must be neither salvaged nor quarantined
    store = EpisodeStore(str(tmp_path), FEATURES)
    writer = store.begin({"task": "live"}, flush_every=2)
    for k in range(6):
        writer.append(row(k))
    other = EpisodeStore(str(tmp_path))
    assert other.live == [0] and other.recovered == [] and other.quarantined == []
    assert other.episodes == [] and other.next_index() == 1
    assert os.path.exists(writer.path)
    for k in range(6, 10):
        writer.append(row(k))
    summary = writer.finish(True)
    assert (summary["length"], summary.get("recovered")) == (10, None)
    reopened = EpisodeStore(str(tmp_path))
    assert reopened.live == [] and [e["length"] for e in reopened.episodes] == [10]
    np.testing.assert_array_equal(reopened.read(0)["action"][:, 0], np.arange(10))


def test_unreadable_leftover_is_quarantined(tmp_path):
    store = EpisodeStore(str(tmp_path), FEATURES)
    record(store, 2)
    (tmp_path / "episodes" / "episode_000001.h5.partial").write_bytes(b"not hdf5 at all")
    store = EpisodeStore(str(tmp_path), FEATURES)
    assert len(store.quarantined) == 1 and os.path.exists(store.quarantined[0])
    assert [e["index"] for e in store.episodes] == [0]
    assert record(store, 1)["index"] == 2


def test_meta_json_is_never_half_written(tmp_path):
    store = EpisodeStore(str(tmp_path), FEATURES)
    record(store, 1)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["episodes"][0]["file"] == "episode_000000.h5"
    assert not (tmp_path / "meta.json.tmp").exists()


def test_disk_full_closes_the_episode_and_keeps_what_was_written(tmp_path, monkeypatch):
    import h5py

    from bc_ros.core.data.store import DiskFullError

    store = EpisodeStore(str(tmp_path), FEATURES)
    record(store, 3)
    w = store.begin({"task": "trail"})
    for k in range(5):
        w.append(row(k))
    real_resize = h5py.Dataset.resize

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(h5py.Dataset, "resize", full)
    with pytest.raises(DiskFullError, match="disk full: writing row 5 of episode 1 failed"):
        w.append(row(5))
    monkeypatch.setattr(h5py.Dataset, "resize", real_resize)
    reopened = EpisodeStore(str(tmp_path))
    assert [e["length"] for e in reopened.episodes] == [3, 5]
    episode = reopened.episodes[1]
    # Closed on the spot if the disk still allowed it, else salvaged on the next open.
    assert episode.get("stopped") == "disk_full" or episode.get("recovered")
    assert not episode["success"]


def test_a_damaged_or_foreign_index_is_a_clear_error_and_nothing_is_rewritten(tmp_path):
    from bc_ros.core.data.store import DatasetError

    root = tmp_path / "ds"
    record(EpisodeStore(str(root), FEATURES), 3)
    episode = (root / "episodes" / "episode_000000.h5").read_bytes()
    meta = root / "meta.json"
    for text, match in [('{"features": {"x"', "damaged \\(not JSON"),
                        ('[1, 2]', "expected an object"),
                        ('{"format_version": 99, "features": {}, "episodes": []}',
                         "format 99, written by a newer bc_ros"),
                        ('{"format_version": 1}', "lacks \\['features', 'episodes'\\]")]:
        meta.write_text(text)
        with pytest.raises(DatasetError, match=match):
            EpisodeStore(str(root))
        assert meta.read_text() == text                      # left as it was
        assert (root / "episodes" / "episode_000000.h5").read_bytes() == episode


def test_a_folder_that_cannot_be_written_is_named(tmp_path, monkeypatch):
    from bc_ros.core.data.store import DatasetError

    def denied(path, *a, **kw):    # what a read-only mount or another user's folder gives
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(os, "makedirs", denied)
    with pytest.raises(DatasetError, match="cannot create a dataset in .*Permission denied"):
        EpisodeStore(str(tmp_path / "ds"), FEATURES)
    assert not (tmp_path / "ds").exists()
