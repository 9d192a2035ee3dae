"""The episode store: one HDF5 file per episode, crash-safe (ROS-free).

Layout of a dataset folder::

    meta.json                     features, rates, cameras, command type, per-episode summaries
    episodes/episode_000042.h5    finished episodes (never rewritten)
    episodes/episode_000043.h5.partial   the episode being recorded
    quarantine/                   partial files that could not be read after a crash

An episode is written under its ``.partial`` name as it runs (rows appended to chunked,
resizable datasets and flushed every ``flush_every`` rows) and published by an atomic rename
when it ends, after which ``meta.json`` is replaced atomically too. A crash therefore loses at most
the rows since the last flush of the episode in progress: on the next open the store finds the
leftover ``.partial``, keeps what is readable as a finished episode flagged ``recovered`` (or
moves it to ``quarantine/`` if nothing is), and numbering continues after the highest index seen.
The leftover is read in a child process with a time limit: HDF5's SWMR reader, the only one that
opens a file whose writer died, retried for ever on a file cut short by a power loss or with
damaged metadata (found by ``test/core/data/test_store_crashes.py``), and a damaged file may
crash HDF5 itself; neither may stop the recorder from starting. A finished file is synced to
disk before its rename, so a power loss cannot leave a published episode half written.
A ``.partial`` file whose writer is still running is left alone: the writer holds an exclusive
``flock`` on it for as long as it writes (the kernel drops it when the process dies, kill -9
included), so opening the dataset elsewhere meanwhile (``bc-ros dataset info``, training on a
dataset that is still being recorded) does not take the live episode for a crash's leftover.

Features are declared once per dataset as ``{name: (shape, dtype)}``; opening an existing dataset
with different features is refused with the difference spelled out.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

META = "meta.json"
EPISODE_RE = re.compile(r"^episode_(\d{6})\.h5(\.partial)?$")
QUARANTINED_RE = re.compile(r"^episode_(\d{6})\.h5")
FORMAT_VERSION = 1
# Reading a leftover in the child process may take this long plus SALVAGE_S_PER_BYTE per byte
# (the copy runs at hundreds of MB/s; a hung HDF5 reader never ends) before it is quarantined.
SALVAGE_TIMEOUT_S = 20.0
SALVAGE_S_PER_BYTE = 1.0 / 20e6


class DatasetError(ValueError):
    """A dataset folder that cannot be used as it is: a damaged or foreign ``meta.json``, a
    folder that cannot be written. The text says what and what to do; nothing was changed."""


def read_meta(meta_path: str) -> dict:
    """``meta.json``, checked: JSON, the keys this version reads, a format it knows."""
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except json.JSONDecodeError as e:
        raise DatasetError(f"{meta_path} is damaged (not JSON: {e}); nothing was changed. The "
                           f"episode files beside it are intact: restore meta.json from a "
                           f"copy, or move them into a new dataset folder") from None
    if not isinstance(meta, dict):
        raise DatasetError(f"{meta_path} is not a bc_ros dataset index (a JSON "
                           f"{type(meta).__name__}, expected an object)")
    version = meta.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise DatasetError(f"{meta_path} is format {version}, written by a newer bc_ros; this "
                           f"one reads format {FORMAT_VERSION}: upgrade bc_ros")
    missing = [k for k in ("features", "episodes") if not isinstance(meta.get(k), (dict, list))]
    if missing:
        raise DatasetError(f"{meta_path} lacks {missing}: not a bc_ros dataset index, or "
                           f"damaged; nothing was changed")
    meta.setdefault("info", {})
    return meta


class StorageError(OSError):
    """Writing the dataset failed (a full disk, a folder made read-only or removed, an I/O
    error). The episode in progress was closed and kept as far as written, or its ``.partial``
    file is left for the next open to recover; finished episodes are untouched."""


class DiskFullError(StorageError):
    """The disk filled up while recording; the episode was closed and kept as far as written."""


# Files given up after a storage fault (EpisodeWriter._release): never closed in this process.
_ABANDONED: list = []

# What HDF5 raises: h5py turns a failed write into OSError or, on flush and close, RuntimeError
# ("... errno = 28, error message = 'No space left on device' ..."): both are storage faults.
H5_ERRORS = (OSError, RuntimeError)


def _errno_of(e: Exception) -> int | None:
    if isinstance(e, OSError) and e.errno:
        return e.errno
    m = re.search(r"errno = (\d+)", str(e))
    return int(m.group(1)) if m else None


def _lock_writer(path: str) -> int:
    """Hold an exclusive flock on ``path`` (a descriptor that stays open until
    the writer's ``_unlock``): the mark of a live writer that recovery respects."""
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _has_live_writer(path: str) -> bool:
    """Whether a writer (this process or another) holds ``path``'s flock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _storage_error(e: Exception, what: str) -> StorageError:
    """``e`` as a StorageError (a DiskFullError for ENOSPC) that says ``what`` failed."""
    code = _errno_of(e)
    full = code == errno.ENOSPC or "No space" in str(e)
    cls = DiskFullError if full else StorageError
    code = errno.ENOSPC if full else (code or errno.EIO)
    return cls(code, f"{'disk full' if full else 'storage error'}: {what} ({e})")


def _fsync(path: str) -> None:
    """Flush a file's data, or a folder's entries (a rename in it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: str, data) -> None:
    """Write JSON to ``path`` through a temporary file and a rename: never half a file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync(os.path.dirname(os.path.abspath(path)))


@dataclasses.dataclass(frozen=True)
class Feature:
    shape: tuple[int, ...]
    dtype: str

    def to_json(self) -> dict:
        return {"shape": list(self.shape), "dtype": self.dtype}


def normalize_features(features: dict) -> dict[str, Feature]:
    out = {}
    for name, spec in features.items():
        if isinstance(spec, Feature):
            out[name] = spec
        elif isinstance(spec, dict):
            out[name] = Feature(tuple(spec["shape"]), np.dtype(spec["dtype"]).str)
        else:
            shape, dtype = spec
            out[name] = Feature(tuple(int(s) for s in shape), np.dtype(dtype).str)
    return out


class EpisodeWriter:
    """Appends rows to one episode's ``.partial`` file. Made by ``EpisodeStore.begin``."""

    def __init__(self, store: EpisodeStore, index: int, attrs: dict, flush_every: int):
        import h5py

        self.store = store
        self.index = index
        self.path = store.episode_path(index, partial=True)
        self.flush_every = flush_every
        self.length = 0
        self.closed = False
        self._lock: int | None = None
        try:
            self._file = h5py.File(self.path, "w", libver="latest")
        except H5_ERRORS as e:  # a full disk, a folder removed or made read-only
            raise _storage_error(e, f"cannot start episode {index} in {store.episodes_dir}"
                                 ) from e
        # Datasets stay open while the episode runs: reopening one per row cost more than the
        # write (its close flushed the chunk cache).
        self._datasets = {}
        self._row_spaces = {}  # name -> memory dataspace of one row
        self._whole_chunk = set()  # a row is exactly one chunk: written as is (below)
        for name, feat in store.features.items():
            chunk_rows = max(1, min(64, (1 << 20) // max(1, int(np.prod(feat.shape)))))
            kwargs = {}
            if chunk_rows == 1:
                # Large rows (camera frames) skip the chunk cache: each is written once, whole.
                dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
                dapl.set_chunk_cache(0, 0, 1.0)
                kwargs["dapl"] = dapl
                self._whole_chunk.add(name)
            self._datasets[name] = self._file.create_dataset(
                name, shape=(0, *feat.shape), maxshape=(None, *feat.shape),
                dtype=np.dtype(feat.dtype), chunks=(chunk_rows, *feat.shape), **kwargs)
            self._row_spaces[name] = h5py.h5s.create_simple((1, *feat.shape))
        self._file.attrs["index"] = index
        self._file.attrs["started"] = time.time()
        for k, v in attrs.items():
            self._file.attrs[k] = json.dumps(v)
        # SWMR keeps the file readable at every flush, whatever happens to this process; a file
        # left by a plain writer killed mid-write is usually unreadable.
        self._file.swmr_mode = True
        self._file.flush()
        # HDF5's own lock is gone in SWMR mode (readers may open the file): ours marks the
        # writer as alive for recovery (see the module docstring)
        self._lock = _lock_writer(self.path)

    def append(self, row: dict) -> None:
        """Write one row: a value for every feature (shape and dtype as declared)."""
        if self.closed:
            raise RuntimeError(f"episode {self.index} is closed")
        missing = set(self.store.features) - set(row)
        extra = set(row) - set(self.store.features)
        if missing or extra:
            raise ValueError(f"row does not match the features: missing {sorted(missing)}, "
                             f"unknown {sorted(extra)}")
        arrays = {}
        for name, feat in self.store.features.items():
            a = np.asarray(row[name])
            if a.shape != feat.shape:
                raise ValueError(f"feature {name!r} must have shape {feat.shape}, got {a.shape}")
            arrays[name] = a
        try:
            for name, a in arrays.items():
                ds = self._datasets[name]
                ds.resize(self.length + 1, axis=0)
                self._write_row(name, ds, a)
            self.length += 1
            if self.length % self.flush_every == 0:
                self._file.flush()
        except H5_ERRORS as e:
            full = _errno_of(e) == errno.ENOSPC or "No space" in str(e)
            kept = self._close_on_fault("disk_full" if full else "storage_error")
            raise _storage_error(e, f"writing row {self.length} of episode {self.index} "
                                    f"failed; " + ("the episode was closed and kept" if kept
                                                   else "its .partial file is recovered when "
                                                        "the dataset is next opened")) from e

    def _write_row(self, name: str, ds, a: np.ndarray) -> None:
        """``ds[self.length] = a`` without h5py's per-call selection work (9 datasets a row).

        A row that is a whole chunk (no filters: the store compresses nothing) and already in
        the dataset's dtype is written as the chunk itself, straight from the array's memory;
        anything else goes through HDF5's conversion, as ``ds[i] = a`` does.
        """
        if name in self._whole_chunk and a.dtype == ds.dtype and a.flags.c_contiguous:
            ds.id.write_direct_chunk((self.length,) + (0,) * a.ndim, a)
            return
        if a.dtype.kind not in "biuf" or ds.dtype.kind not in "biuf":
            ds[self.length] = a  # strings, objects, compounds: h5py's own conversions
            return
        fspace = ds.id.get_space()
        fspace.select_hyperslab((self.length,) + (0,) * a.ndim, (1, *a.shape))
        ds.id.write(self._row_spaces[name], fspace, np.ascontiguousarray(a).reshape(1, *a.shape))

    def _close_on_fault(self, why: str) -> bool:
        """Publish what was written, flagged ``stopped: why``; False if even that failed (the
        ``.partial`` file stays for recovery)."""
        try:
            self.finish(success=False, extra={"stopped": why})
            return True
        except StorageError:
            self._release()
            return False

    def _release(self) -> None:
        """Let go of the file after a failure, so that recovery can open it."""
        self.closed = True
        self._unlock()   # recovery may take the .partial file from now on
        # After a failed write HDF5 is fragile: a close that fails (a full disk) left the file
        # half open, and a later file's SWMR start crashed the process (HDF5 2.0 on a real
        # full tmpfs), as did closing it or dropping its identifiers by hand. The handles are
        # kept, unused, for the life of the process, which writes no new episode (begin says
        # so); the .partial file stays for the next recorder to recover.
        _ABANDONED.append((self._file, self._datasets))
        self._datasets = {}

    def finish(self, success: bool, extra: dict | None = None) -> dict:
        """Close the file, publish it by an atomic rename, record it in meta.json."""
        if self.closed:
            raise RuntimeError(f"episode {self.index} is already closed")
        import h5py

        try:
            self._trim_to_length()
            self._file.close()
            self.closed = True
            # attributes cannot be added in SWMR mode; HDF5's lock would clash with ours,
            # which is held until the episode is published
            with h5py.File(self.path, "r+", locking=False) as f:
                f.attrs["success"] = bool(success)
                f.attrs["length"] = self.length
                for k, v in (extra or {}).items():
                    f.attrs[k] = json.dumps(v)
            summary = self.store._publish(self.index, self.path)
            self._unlock()
            return summary
        except H5_ERRORS as e:
            self._release()
            if os.path.exists(self.store.episode_path(self.index)):
                # Published; only meta.json could not be rewritten: the next open lists it.
                raise _storage_error(e, f"episode {self.index} was saved but the dataset "
                                        f"index could not be updated; it is listed when the "
                                        f"dataset is next opened") from e
            raise _storage_error(e, f"episode {self.index} could not be saved; its .partial "
                                    f"file is recovered when the dataset is next opened"
                                 ) from e

    def discard(self) -> None:
        """Throw the episode away (the recorder's ~/discard_episode)."""
        if not self.closed:
            self._file.close()
            self.closed = True
        if os.path.exists(self.path):
            os.remove(self.path)
        self._unlock()

    def _unlock(self) -> None:
        """Drop the live-writer flock (closing its descriptor); idempotent."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _trim_to_length(self) -> None:
        for ds in self._datasets.values():
            ds.resize(self.length, axis=0)


class EpisodeStore:
    """A dataset folder of episodes. See the module docstring for the layout and guarantees."""

    def __init__(self, root: str, features: dict | None = None, info: dict | None = None):
        self.root = root
        self.episodes_dir = os.path.join(root, "episodes")
        self.quarantine_dir = os.path.join(root, "quarantine")
        meta_path = os.path.join(root, META)
        if os.path.exists(meta_path):
            self.meta = read_meta(meta_path)
            stored = normalize_features(self.meta["features"])
            if features is not None:
                wanted = normalize_features(features)
                if wanted != stored:
                    raise ValueError(f"dataset {root} has different features: "
                                     f"{_feature_diff(stored, wanted)}")
            self.features = stored
        else:
            if features is None:
                raise FileNotFoundError(f"no dataset at {root} ({META} missing) and no features "
                                        f"given to create one")
            self.features = normalize_features(features)
            self.meta = {"format_version": FORMAT_VERSION,
                         "features": {k: v.to_json() for k, v in self.features.items()},
                         "info": info or {}, "episodes": []}
            try:
                os.makedirs(self.episodes_dir, exist_ok=True)
                write_json_atomic(meta_path, self.meta)
            except PermissionError as e:
                raise DatasetError(f"cannot create a dataset in {root}: {e.strerror} "
                                   f"({e.filename}); give a folder this user may write") from None
        try:
            os.makedirs(self.episodes_dir, exist_ok=True)
        except PermissionError as e:
            raise DatasetError(f"cannot write to dataset {root}: {e.strerror} ({e.filename})"
                               ) from None
        self.recovered: list[int] = []
        self.quarantined: list[str] = []
        self.live: list[int] = []   # .partial episodes another writer is recording now
        self._recover_leftovers()

    # ---- paths and indices -------------------------------------------------------------------
    def episode_path(self, index: int, partial: bool = False) -> str:
        name = f"episode_{index:06d}.h5" + (".partial" if partial else "")
        return os.path.join(self.episodes_dir, name)

    def _indices_on_disk(self) -> list[int]:
        found = []
        for name in os.listdir(self.episodes_dir):
            m = EPISODE_RE.match(name)
            if m:
                found.append(int(m.group(1)))
        return found

    def next_index(self) -> int:
        """One past every index ever used: finished, partial, listed or quarantined."""
        seen = self._indices_on_disk() + [e["index"] for e in self.meta["episodes"]]
        if os.path.isdir(self.quarantine_dir):
            seen += [int(m.group(1)) for m in map(QUARANTINED_RE.match,
                                                  os.listdir(self.quarantine_dir)) if m]
        return max(seen, default=-1) + 1

    @property
    def episodes(self) -> list[dict]:
        return list(self.meta["episodes"])

    # ---- writing -----------------------------------------------------------------------------
    def begin(self, attrs: dict | None = None, flush_every: int = 30) -> EpisodeWriter:
        """Start a new episode. ``attrs`` (task, source, ...) are stored with it as JSON."""
        if _ABANDONED:
            raise StorageError(errno.EIO, f"{_ABANDONED[0][0].filename} could not be closed "
                                          f"after a write failed, and HDF5 cannot be trusted "
                                          f"to write in this process any more: restart the "
                                          f"recorder (launch files respawn it) to record again")
        try:
            index = self.next_index()
        except OSError as e:   # the folder was removed, or cannot be read any more
            raise _storage_error(e, f"cannot start an episode in {self.episodes_dir}") from e
        return EpisodeWriter(self, index, dict(attrs or {}), flush_every)

    def _publish(self, index: int, partial_path: str) -> dict:
        final = self.episode_path(index)
        if os.path.exists(final):
            raise FileExistsError(f"{final} exists: finished episodes are never rewritten")
        summary = _summarize(partial_path)
        summary["file"] = os.path.basename(final)
        _fsync(partial_path)
        os.replace(partial_path, final)
        _fsync(self.episodes_dir)
        self.meta["episodes"].append(summary)
        write_json_atomic(os.path.join(self.root, META), self.meta)
        return summary

    def update_info(self, **info) -> None:
        self.meta["info"].update(info)
        write_json_atomic(os.path.join(self.root, META), self.meta)

    # ---- reading -----------------------------------------------------------------------------
    def read(self, index: int, names=None) -> dict[str, np.ndarray]:
        """Episode ``index``'s features, or only ``names`` of them (the cameras are most of
        the bytes: a control or action column alone is read without them)."""
        import h5py

        names = list(self.features) if names is None else list(names)
        unknown = sorted(set(names) - set(self.features))
        if unknown:
            raise KeyError(f"no features {unknown} in {self.root}; it has {list(self.features)}")
        with h5py.File(self.episode_path(index), "r") as f:
            return {name: f[name][()] for name in names}

    # ---- crash recovery ----------------------------------------------------------------------
    def _recover_leftovers(self) -> None:
        listed = {e["index"] for e in self.meta["episodes"]}
        # First, copies a crash during an earlier recovery left: that recovery starts again
        # (removed before the loop below, which writes new ones under the same names).
        for name in os.listdir(self.episodes_dir):
            if name.endswith(".salvage"):
                os.remove(os.path.join(self.episodes_dir, name))
        for name in sorted(os.listdir(self.episodes_dir)):
            path = os.path.join(self.episodes_dir, name)
            m = EPISODE_RE.match(name)
            if not m:
                continue
            index, partial = int(m.group(1)), bool(m.group(2))
            if partial and os.path.exists(self.episode_path(index)):
                os.remove(path)  # salvaged and published before a crash removed the leftover
                continue
            if partial and _has_live_writer(path):
                self.live.append(index)   # being recorded right now: not a leftover
                continue
            if not partial:
                if index not in listed:  # renamed, but the crash came before meta.json
                    try:
                        summary = _summarize(path)
                    except Exception:  # noqa: BLE001 - unreadable: not an episode to list
                        self._quarantine(path, name)
                        continue
                    self.meta["episodes"].append(summary)
                    write_json_atomic(os.path.join(self.root, META), self.meta)
                continue
            if self._salvage(path, index):
                self.recovered.append(index)
            else:
                self._quarantine(path, name)
        self.meta["episodes"].sort(key=lambda e: e["index"])

    def _quarantine(self, path: str, name: str) -> None:
        os.makedirs(self.quarantine_dir, exist_ok=True)
        target = os.path.join(self.quarantine_dir, f"{name}.{int(time.time())}")
        os.replace(path, target)
        self.quarantined.append(target)

    def _salvage(self, path: str, index: int) -> bool:
        """Copy the rows every feature has into a clean file (in a child process, with a time
        limit); publish it as a finished episode flagged ``recovered``. The leftover is removed
        only after the copy is published."""
        import h5py

        try:  # a plain open fails at once on a file cut short (SWMR's would retry for ever)
            h5py.File(path, "r").close()
        except OSError as e:
            if "truncated file" in str(e):
                return False
        clean = f"{path}.salvage"
        limit = SALVAGE_TIMEOUT_S + os.path.getsize(path) * SALVAGE_S_PER_BYTE
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))))
        code = (f"import sys; sys.path.insert(0, {package_root!r}); "
                f"from bc_ros.core.data.store import salvage_copy; "
                f"sys.exit(salvage_copy(*sys.argv[1:]))")
        try:
            done = subprocess.run([sys.executable, "-c", code, path, clean, str(index),
                                   json.dumps(list(self.features))], timeout=limit,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL).returncode == 0
        except subprocess.TimeoutExpired:  # the child was killed: HDF5 hung on this file
            done = False
        if not done:
            if os.path.exists(clean):
                os.remove(clean)
            return False
        self._publish(index, clean)
        os.remove(path)
        return True


def salvage_copy(path: str, clean: str, index: str, names: str) -> int:
    """The child process of ``EpisodeStore._salvage``: copy the rows every feature in ``names``
    (JSON list) has from the leftover ``path`` into ``clean``. Exit status 0: copied; 2: nothing
    to keep."""
    import h5py

    names = json.loads(names)
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as src:
            length = min(src[name].shape[0] for name in names)
            if length == 0:
                return 2
            with h5py.File(clean, "w") as dst:
                for name in names:
                    dst.create_dataset(name, data=src[name][:length], chunks=src[name].chunks,
                                       maxshape=(None, *src[name].shape[1:]))
                for k, v in src.attrs.items():
                    dst.attrs[k] = v
                dst.attrs["index"] = int(index)  # a leftover of another version may lack it
                dst.attrs["length"] = length
                dst.attrs["success"] = False
                dst.attrs["recovered"] = True
    except Exception:  # noqa: BLE001 - any failure to read means quarantine
        return 2
    return 0


def _summarize(path: str) -> dict:
    import h5py

    # no HDF5 lock: a file being published is still under its writer's flock
    with h5py.File(path, "r", locking=False) as f:
        attrs = {}
        for k, v in f.attrs.items():
            if isinstance(v, (bytes, str)):
                try:
                    v = json.loads(v)
                except (TypeError, ValueError):
                    pass
            elif isinstance(v, np.generic):
                v = v.item()
            attrs[k] = v
        first = next(iter(f.keys()), None)
        length = int(f[first].shape[0]) if first else 0
    attrs.setdefault("length", length)
    attrs["length"] = int(attrs["length"])
    attrs["index"] = int(attrs["index"])
    attrs["file"] = os.path.basename(path)
    return attrs


def _feature_diff(stored: dict, wanted: dict) -> str:
    parts = []
    for name in sorted(set(stored) | set(wanted)):
        a, b = stored.get(name), wanted.get(name)
        if a != b:
            parts.append(f"{name}: dataset has {a and a.to_json()}, recorder wants "
                         f"{b and b.to_json()}")
    return "; ".join(parts)
