"""Storage faults while recording: a full disk (injected, and a real one on a small tmpfs where
this machine lets the test mount one), a folder removed or made read-only, an I/O error. Each
is a StorageError (DiskFullError for a full disk) saying what failed; the episode is closed and
kept as far as written or left for recovery; finished episodes are never rewritten; the dataset
opens again afterwards."""

import errno
import hashlib
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

from bc_ros.core.data.store import DiskFullError, EpisodeStore, StorageError

FEATURES = {"image": ((32, 32, 3), "uint8"), "action": ((2,), "float32")}


def row(k):
    return {"image": np.full((32, 32, 3), k % 256, np.uint8),
            "action": np.array([k, -k], np.float32)}


def finished(store, n):
    w = store.begin()
    for k in range(n):
        w.append(row(k))
    return w.finish(success=True)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_an_io_error_mid_episode_closes_it_and_names_it(tmp_path, monkeypatch):
    import h5py

    store = EpisodeStore(str(tmp_path), FEATURES)
    finished(store, 3)
    before = sha(store.episode_path(0))
    w = store.begin()
    for k in range(4):
        w.append(row(k))
    real = h5py.Dataset.resize

    def broken(self, *a, **kw):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(h5py.Dataset, "resize", broken)
    with pytest.raises(StorageError, match="storage error: writing row 4 of episode 1 failed"
                       ) as e:
        w.append(row(4))
    assert not isinstance(e.value, DiskFullError) and e.value.errno == errno.EIO
    monkeypatch.setattr(h5py.Dataset, "resize", real)
    reopened = EpisodeStore(str(tmp_path))
    assert [ep["length"] for ep in reopened.episodes] == [3, 4]
    assert not reopened.episodes[1]["success"]
    assert sha(reopened.episode_path(0)) == before


def test_a_removed_dataset_folder_is_a_storage_error_at_the_next_episode(tmp_path):
    store = EpisodeStore(str(tmp_path / "ds"), FEATURES)
    finished(store, 2)
    shutil.rmtree(tmp_path / "ds")
    with pytest.raises(StorageError, match="cannot start an episode in .*ds/episodes"):
        store.begin()


def test_a_folder_made_read_only_while_recording_fails_the_save_not_the_data(tmp_path,
                                                                             monkeypatch):
    store = EpisodeStore(str(tmp_path), FEATURES)
    finished(store, 2)
    before = sha(store.episode_path(0))
    w = store.begin()
    for k in range(3):
        w.append(row(k))
    real = os.replace

    def read_only(src, dst, *a, **kw):   # as a remount read-only (root ignores chmod)
        raise OSError(errno.EROFS, "Read-only file system", src)

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(StorageError, match="episode 1 could not be saved; its .partial file "
                                           "is recovered when the dataset is next opened"):
        w.finish(success=True)
    monkeypatch.setattr(os, "replace", real)
    reopened = EpisodeStore(str(tmp_path))
    assert reopened.recovered == [1] and reopened.episodes[1]["length"] == 3
    assert sha(reopened.episode_path(0)) == before


@pytest.fixture
def small_tmpfs():
    """A 3 MB tmpfs, or a skip where this machine does not let the test mount one."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    where = tempfile.mkdtemp(prefix="bc_ros_full_")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", where],
                          capture_output=True, text=True)
    if done.returncode != 0:
        os.rmdir(where)
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", where], check=False)
        os.rmdir(where)


def test_a_real_full_disk_closes_the_episode_and_the_dataset_opens_again(small_tmpfs):
    """Found here: h5py raises RuntimeError, not OSError, when a flush meets a full disk (the
    recorder died of it), and after that failure HDF5 crashed the process when the file was
    closed, or at the next episode's start. The writing runs in a forked child, which is left
    unable to write (as a recorder would be until restarted); the parent is the restarted one."""
    from test.core.data.test_store_crashes import in_child

    root = os.path.join(small_tmpfs, "ds")
    store = EpisodeStore(root, FEATURES)
    finished(store, 5)
    before = sha(store.episode_path(0))

    def fill(report):
        w = EpisodeStore(root).begin(flush_every=1)
        try:
            for k in range(10 ** 6):  # 3 kB a row: the 3 MB fill up within a thousand rows
                w.append(row(k))
        except DiskFullError as e:
            report(f"full {e.errno} {w.closed}")
        try:
            EpisodeStore(root).begin()
        except StorageError as e:
            report("refused " + ("restart the recorder" in str(e) or "disk full" in str(e))
                   * "clearly")
        report(f"alive {sha(store.episode_path(0)) == before}")

    _, lines = in_child(fill, 10 ** 9)
    assert lines == [f"full {errno.ENOSPC} True", "refused clearly", "alive True"], lines
    reopened = EpisodeStore(root)       # the restarted recorder, on the still full disk
    assert sha(reopened.episode_path(0)) == before and reopened.episodes[0]["length"] == 5
    assert len(reopened.episodes) == 1 or reopened.episodes[1]["recovered"]
    subprocess.run(["mount", "-o", "remount,size=6m", small_tmpfs], check=True)  # room again
    assert finished(reopened, 2)["length"] == 2
    assert sha(reopened.episode_path(0)) == before
