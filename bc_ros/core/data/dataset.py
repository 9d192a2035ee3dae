"""The training-time dataset over an episode store: observation/action windows, padding masks,
statistics, a split by episode, and side-camera augmentation.

One sample is the window around tick ``t`` of an episode::

    images       uint8  (n_obs_steps, n_views, 3, H, W)   ticks t-n_obs_steps+1 .. t
    state        float32 (n_obs_steps, S)
    obs_mask     bool   (n_obs_steps,)     False where the window reaches before the episode start
    action       float32 (horizon, A)      ticks t .. t+horizon-1 (the expert's labels)
    action_mask  bool   (horizon,)         False where it reaches past the episode end
    episode, t   int
    view         int    which camera the images come from (side-camera mode), else -1
    label        int    discrete side-camera class (discrete mode), else -1
    goal         float32 (G,)  goal-conditioned only (``goal``): ``hindsight``: where the robot
                                actually got to later in the same episode (the recorded
                                achieved_goal stream, or state[goal_state_indices]) at the tick
                                ``goal_strategy`` picks; ``recorded``: the goal recorded at t

Padding repeats the first observation / last action (as LeRobot and diffusion_policy do) and the
masks say which entries are real. Ticks whose label or state was missing, stale or non-finite are
not used as sample centres.

Side cameras (``SideCameraConfig``): in ``continuous`` mode every camera's frame at tick ``t`` is a
sample of its own (``n_views`` = 1) whose actions carry the steer-back correction for that
camera's yaw and lateral offset (``augment.py``); ``discrete`` adds the Giusti class as ``label``.
With the mode ``off`` all cameras are inputs together (``n_views`` = number of cameras).
"""

from __future__ import annotations

import math

import numpy as np

from bc_ros.core.data.augment import SideCameraConfig, augmented_label, discrete_label
from bc_ros.core.data.control import context_from_control
from bc_ros.core.data.recording import OK
from bc_ros.core.data.stats import feature_stats, merge_stats
from bc_ros.core.data.store import EpisodeStore


GOAL_STRATEGIES = ("final", "future")
GOAL_SOURCES = ("", "hindsight", "recorded")


def split_episodes(indices, val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Train/validation split by episode (never by frame: neighbouring frames are near copies)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction=}")
    indices = sorted(indices)
    order = np.random.default_rng(seed).permutation(len(indices))
    n_val = int(round(val_fraction * len(indices)))
    if val_fraction > 0 and len(indices) > 1:
        n_val = max(1, n_val)
    val = sorted(indices[i] for i in order[:n_val])
    train = sorted(indices[i] for i in order[n_val:])
    return train, val


def _fill_from_neighbours(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Rows where ``ok`` is false replaced by the last good row before them (the first good
    row for those at the start; zeros when no row is good)."""
    if ok.all():
        return values
    if not ok.any():
        return np.zeros_like(values)
    good = np.flatnonzero(ok)
    last_good = np.maximum.accumulate(np.where(ok, np.arange(len(ok)), -1))
    return values[np.where(last_good >= 0, last_good, good[0])]


class EpisodeDataset:
    """A map-style dataset (works with ``torch.utils.data.DataLoader``); arrays are numpy and
    the loader's default collate turns them into tensors. Everything is loaded into memory."""

    def __init__(self, root: str, *, n_obs_steps: int = 1, horizon: int = 1,
                 episodes=None, cameras=None, side_camera: SideCameraConfig | None = None,
                 successful_only: bool = False, goal: str = "", goal_state_indices=None,
                 goal_strategy: str = "final", goal_future_ticks: int = 0, seed: int = 0,
                 label_control=None, label_context_ticks: int = 0):
        if n_obs_steps < 1 or horizon < 1:
            raise ValueError(f"n_obs_steps and horizon must be >= 1, got {n_obs_steps=} "
                             f"{horizon=}")
        if goal_strategy not in GOAL_STRATEGIES:
            raise ValueError(f"goal_strategy must be one of {GOAL_STRATEGIES}, "
                             f"got {goal_strategy=}")
        self.goal_idx = None if goal_state_indices is None else list(goal_state_indices)
        if self.goal_idx is not None and not goal:     # configs from before ``goal``
            goal = "hindsight"
        if goal not in GOAL_SOURCES:
            raise ValueError(f"goal must be one of {GOAL_SOURCES[1:]} or empty, got {goal=}")
        if goal == "recorded" and self.goal_idx is not None:
            raise ValueError("goal_state_indices picks hindsight goals from the state; "
                             "goal=recorded reads the recorded goal stream instead")
        if isinstance(goal_future_ticks, bool) or not isinstance(goal_future_ticks, int) \
                or goal_future_ticks < 0:
            raise ValueError(f"goal_future_ticks must be an integer >= 0, got "
                             f"{goal_future_ticks=}")
        self.goal_source, self.goal_future_ticks = goal, goal_future_ticks
        self.goal_strategy, self.seed = goal_strategy, seed
        # DAgger data: only ticks whose recorded control source is one of these are labels
        # (e.g. [CONTROL_EXPERT] for HG-DAgger); None: every tick with a good label.
        self.label_control = None if label_control is None else list(label_control)
        # ... plus the up-to-N ticks before each takeover (HG-DAgger context windows,
        # ``bc_ros.core.data.control.context_mask``)
        if isinstance(label_context_ticks, bool) or not isinstance(label_context_ticks, int) \
                or label_context_ticks < 0:
            raise ValueError(f"label_context_ticks must be an integer >= 0, got "
                             f"{label_context_ticks=}")
        if label_context_ticks and self.label_control is None:
            raise ValueError(f"label_context_ticks={label_context_ticks} needs label_control "
                             f"(the context is kept beside the labelled ticks)")
        self.label_context_ticks = label_context_ticks
        self.store = EpisodeStore(root)
        info = self.store.meta["info"]
        self.info = info
        self.n_obs_steps, self.horizon = n_obs_steps, horizon
        self.side = side_camera or SideCameraConfig()
        all_cams = [c["name"] for c in info["cameras"]]
        self.cameras = list(cameras or all_cams)
        unknown = set(self.cameras) - set(all_cams)
        if unknown:
            raise ValueError(f"cameras {sorted(unknown)} are not in the dataset ({all_cams})")
        poses = {c["name"]: c for c in info["cameras"]}
        self.camera_yaw = [math.radians(poses[c]["yaw_deg"]) for c in self.cameras]
        self.camera_lateral = [poses[c]["lateral_m"] for c in self.cameras]
        self.action_names = info["action_names"]
        self.horizon_s = self.side.horizon
        listed = [e for e in self.store.episodes
                  if (episodes is None or e["index"] in set(episodes))
                  and (not successful_only or e.get("success"))]
        if not listed:
            raise ValueError(f"no episodes selected from {root} ({len(self.store.episodes)} "
                             f"there, {episodes=}, {successful_only=})")
        self.episode_indices = [e["index"] for e in listed]
        self._load(listed)

    def _load(self, listed) -> None:
        streams = self.info["streams"]
        must_be_ok = [streams.index(s) for s in ("state", "action")]
        images, states, actions, starts, lengths, valid, labels = [], [], [], [], [], [], []
        goals = []
        offset = 0
        for e in listed:
            data = self.store.read(e["index"])
            n = len(data["action"])
            images.append(np.stack([data[f"image_{c}"] for c in self.cameras], axis=1))
            # Non-finite values never reach training, whatever the flags say (files of older
            # recorders flagged only some): a bad label is masked out of every chunk that
            # covers it, a bad state in a history window is the episode's last good one.
            label_ok = ((data["flags"][:, streams.index("action")] == OK)
                        & np.isfinite(data["action"]).all(axis=1))
            state_ok = np.isfinite(data["state"]).all(axis=1)
            states.append(_fill_from_neighbours(data["state"].astype(np.float32), state_ok))
            actions.append(np.where(label_ok[:, None], data["action"], 0.0).astype(np.float32))
            labels.append(label_ok)
            ok = (data["flags"][:, must_be_ok] == OK).all(axis=1) & label_ok & state_ok
            if self.goal_source:
                values, goal_ok = self._goals_of(e["index"], data, states[-1])
                goals.append(values)
                if self.goal_source == "recorded":     # a tick without its goal is no sample
                    ok &= goal_ok
            if self.label_control is not None:
                if "control" not in data:
                    raise ValueError(f"label_control={self.label_control} needs a dataset "
                                     f"recorded with record_control (no 'control' in episode "
                                     f"{e['index']})")
                keep = np.isin(data["control"], self.label_control)
                if self.label_context_ticks:
                    keep |= context_from_control(data["control"], self.label_context_ticks)
                ok &= keep
            valid.append(ok)
            starts.append(offset)
            lengths.append(n)
            offset += n
        self.images = np.concatenate(images)        # (N, n_cams, H, W, 3)
        self.states = np.concatenate(states)        # (N, S)
        self.actions = np.concatenate(actions)      # (N, A)
        self.goals = np.concatenate(goals) if goals else None   # (N, G): goal source per row
        self.starts = np.array(starts)
        self.lengths = np.array(lengths)
        self._label_ok = np.concatenate(labels)     # (N,) rows whose action may be a label
        ok = np.concatenate(valid)
        centres = [(ep, t) for ep, (s, n) in enumerate(zip(starts, lengths)) for t in range(n)
                   if ok[s + t]]
        views = range(len(self.cameras)) if self.side.mode != "off" else [-1]
        self.samples = [(ep, t, v) for ep, t in centres for v in views]
        self._valid = ok

    def _goals_of(self, index: int, data: dict, states: np.ndarray):
        """The rows' goal source, bad rows filled from their neighbours, and which were good."""
        if self.goal_idx is not None:
            return states[:, self.goal_idx], np.ones(len(states), bool)
        stream = "goal" if self.goal_source == "recorded" else "achieved_goal"
        if stream not in data:
            topic = "goal_topic" if stream == "goal" else "achieved_goal_topic"
            raise ValueError(f"goal={self.goal_source} needs episodes recorded with the "
                             f"{stream} stream (the recorder's {topic}); episode {index} has "
                             f"none")
        streams = self.info["streams"]
        good = ((data["flags"][:, streams.index(stream)] == OK)
                & np.isfinite(data[stream]).all(axis=1))
        return _fill_from_neighbours(data[stream].astype(np.float32), good), good

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i) -> dict:
        if not np.isscalar(i):
            return self.get_batch(i)
        ep, t, view = self.samples[i]
        start, n = int(self.starts[ep]), int(self.lengths[ep])
        obs_t = np.arange(t - self.n_obs_steps + 1, t + 1)
        act_t = np.arange(t, t + self.horizon)
        obs_mask = obs_t >= 0
        obs_rows = start + np.clip(obs_t, 0, n - 1)
        act_rows = start + np.clip(act_t, 0, n - 1)
        act_mask = (act_t < n) & self._label_ok[act_rows]
        cams = slice(None) if view < 0 else slice(view, view + 1)
        images = self.images[obs_rows, cams].transpose(0, 1, 4, 2, 3)  # (T, V, 3, H, W)
        action = self.actions[act_rows].copy()
        label = -1
        if view >= 0:
            yaw, lateral = self.camera_yaw[view], self.camera_lateral[view]
            if self.side.mode == "continuous":
                action = augmented_label(action, self.action_names, yaw, lateral,
                                         self.horizon_s).astype(np.float32)
            label = discrete_label(yaw, self.side.yaw_threshold_deg)
        sample = {"images": np.ascontiguousarray(images), "state": self.states[obs_rows],
                  "obs_mask": obs_mask, "action": action, "action_mask": act_mask,
                  "episode": self.episode_indices[ep], "t": t, "view": view, "label": label}
        if self.goals is not None:
            sample["goal"] = self.goals[start + self.goal_tick(i, t, n)]
        return sample

    def get_batch(self, indices) -> dict:
        """Many samples at once with vectorized indexing (what the loader benchmark measures):
        the same arrays as ``__getitem__`` with a leading batch dimension. Use it through
        ``DataLoader(ds, sampler=BatchSampler(RandomSampler(ds), 64, False), batch_size=None)``.
        """
        idx = np.asarray(indices, dtype=np.int64)
        table = self._sample_table()[idx]                      # (B, 3): episode, t, view
        ep, t, view = table[:, 0], table[:, 1], table[:, 2]
        start, n = self.starts[ep][:, None], self.lengths[ep][:, None]
        obs_t = t[:, None] + np.arange(-self.n_obs_steps + 1, 1)[None]   # (B, T_obs)
        act_t = t[:, None] + np.arange(self.horizon)[None]               # (B, H)
        obs_rows = start + np.clip(obs_t, 0, n - 1)
        act_rows = start + np.clip(act_t, 0, n - 1)
        if self.side.mode == "off":
            images = self.images[obs_rows]                     # (B, T, V, H, W, 3)
        else:
            images = self.images[obs_rows, view[:, None]][:, :, None]
        batch = {"images": images.transpose(0, 1, 2, 5, 3, 4), "state": self.states[obs_rows],
                 "obs_mask": obs_t >= 0, "action": self.actions[act_rows],
                 "action_mask": (act_t < n) & self._label_ok[act_rows], "episode": np.asarray(self.episode_indices)[ep],
                 "t": t, "view": view}
        if self.side.mode != "off":
            batch["action"] = batch["action"].copy()
            labels = np.empty(len(idx), np.int64)
            for v in np.unique(view):
                m = view == v
                yaw, lateral = self.camera_yaw[v], self.camera_lateral[v]
                if self.side.mode == "continuous":
                    batch["action"][m] = augmented_label(batch["action"][m], self.action_names,
                                                         yaw, lateral, self.horizon_s)
                labels[m] = discrete_label(yaw, self.side.yaw_threshold_deg)
            batch["label"] = labels
        else:
            batch["label"] = np.full(len(idx), -1)
        if self.goals is not None:
            goal_t = np.array([self.goal_tick(int(i), int(ti), int(ni))
                               for i, ti, ni in zip(idx, t, n[:, 0])], dtype=np.int64)
            batch["goal"] = self.goals[start[:, 0] + goal_t]
        return batch

    def _sample_table(self) -> np.ndarray:
        if getattr(self, "_table", None) is None:
            self._table = np.asarray(self.samples, dtype=np.int64).reshape(-1, 3)
        return self._table

    def goal_tick(self, i: int, t: int, n: int) -> int:
        """The tick whose goal source is sample ``i``'s goal. ``recorded``: t itself. Hindsight
        relabeling (Andrychowicz et al. 2017): ``final``: the episode's last tick; ``future``:
        uniform over t..n-1, or over the next ``goal_future_ticks`` when set (future-k, as
        GCSL and play-LMP use), drawn from an rng seeded by (seed, sample index) so a sample's
        goal is reproducible."""
        if self.goal_source == "recorded":
            return t
        if self.goal_strategy == "final":
            return n - 1
        end = n if not self.goal_future_ticks else min(n, t + self.goal_future_ticks + 1)
        return int(np.random.default_rng([self.seed, i]).integers(t, end))

    @property
    def goal_dim(self) -> int:
        return 0 if self.goals is None else int(self.goals.shape[1])

    @property
    def state_dim(self) -> int:
        return int(self.states.shape[1])

    @property
    def tasks(self) -> set[str]:
        return {e.get("task", "") for e in self.store.episodes
                if e["index"] in set(self.episode_indices)} - {""}

    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """Normalization statistics of state and action over the valid ticks (augmented actions
        included when side cameras add samples, so the normalizer covers the corrections)."""
        actions = self.actions[self._valid]
        if self.side.mode == "continuous":
            extra = [augmented_label(actions, self.action_names, yaw, lat, self.horizon_s)
                     for yaw, lat in zip(self.camera_yaw, self.camera_lateral)]
            action_stats = merge_stats([feature_stats(a) for a in extra])
        else:
            action_stats = feature_stats(actions)
        stats = {"state": feature_stats(self.states[self._valid]), "action": action_stats}
        if self.goals is not None:
            stats["goal"] = feature_stats(self.goals[self._valid])
        return stats


class ConcatEpisodes:
    """Several ``EpisodeDataset``s as one (DAgger: the expert demonstrations plus the rounds'
    data, each recorded into its own store). They must agree on cameras, image size, state size,
    action names and windows; ``get_batch`` keeps the order of the indices asked for."""

    def __init__(self, parts: list[EpisodeDataset]):
        if not parts:
            raise ValueError("ConcatEpisodes needs at least one dataset")
        first = parts[0]
        for p in parts[1:]:
            mine = (p.cameras, p.action_names, p.info["image_size"], p.state_dim,
                    p.n_obs_steps, p.horizon, p.side.mode, p.goal_dim)
            theirs = (first.cameras, first.action_names, first.info["image_size"],
                      first.state_dim, first.n_obs_steps, first.horizon, first.side.mode,
                      first.goal_dim)
            if mine != theirs:
                raise ValueError(f"{p.store.root} does not match {first.store.root}: (cameras, "
                                 f"actions, image size, state size, n_obs_steps, horizon, side "
                                 f"cameras, goal size) {mine} vs {theirs}")
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        self.info, self.cameras, self.action_names = first.info, first.cameras, first.action_names
        self.state_dim, self.goal_dim = first.state_dim, first.goal_dim
        self.tasks = set().union(*(p.tasks for p in parts))

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def get_batch(self, indices) -> dict:
        idx = np.asarray(indices, dtype=np.int64)
        part = np.searchsorted(self.offsets, idx, side="right") - 1
        pieces, order = [], []
        for k in np.unique(part):
            where = np.flatnonzero(part == k)
            pieces.append(self.parts[k].get_batch(idx[where] - self.offsets[k]))
            order.append(where)
        inverse = np.argsort(np.concatenate(order))
        keys = set.intersection(*(set(p) for p in pieces))
        return {key: np.concatenate([p[key] for p in pieces])[inverse] for key in keys}

    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        per = [p.stats() for p in self.parts]
        return {key: merge_stats([s[key] for s in per]) for key in per[0]}
