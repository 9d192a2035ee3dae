"""DAgger round bookkeeping (ROS-free): one ``RoundMetrics`` per round, kept in a JSON log.

A round = collect episodes with the current policy (mux in human, beta or uncertainty mode),
aggregate the new expert labels into the dataset, retrain. Per round::

    success_rate              = successes / episodes
    expert_labels_added       = sum over episodes of labelled ticks
    interventions_per_episode = human takeovers / episodes
    requests_per_episode      = robot requests / episodes (uncertainty mode)
    autonomous_fraction       = policy ticks / all ticks (tick-weighted over the round)
    context_switches          = policy <-> expert switches, summed over the round
    dataset_size              = training samples after aggregation
    wall_time_s               = seconds from the round's start to the end of its training
    threshold                 = uncertainty mode: the disagreement threshold the round collected
                                with (calibrated on held-out data for a target request rate)
    request_rate              = uncertainty mode: fraction of the round's scored ticks whose
                                score was above it (the target rate, as achieved on the states
                                the policy visited)

``RoundLog`` appends rounds and rewrites the file atomically (temp file in the same folder, fsync,
``os.replace``): a crash leaves the previous log or the new one, never half of one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Sequence

from bc_ros.core.config import from_dict

LOG_FORMAT = "bc_ros.dagger.rounds"
LOG_VERSION = 1


@dataclasses.dataclass
class RoundMetrics:
    round: int
    episodes: int
    success_rate: float | None        # None: not evaluated
    expert_labels_added: int
    interventions_per_episode: float
    requests_per_episode: float
    autonomous_fraction: float
    context_switches: int
    dataset_size: int
    wall_time_s: float
    beta: float | None = None   # beta mode: this round's beta_i
    mode: str = "human"
    threshold: float | None = None      # uncertainty mode
    request_rate: float | None = None   # uncertainty mode

    def __post_init__(self):
        for name in ("round", "expert_labels_added", "context_switches", "dataset_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {name}={value!r}")
        if isinstance(self.episodes, bool) or not isinstance(self.episodes, int) \
                or self.episodes < 0:
            # 0 for round 0: behavioral cloning on the demonstrations, nothing collected
            raise ValueError(f"episodes must be an integer >= 0, got {self.episodes=}")
        for name in ("success_rate", "autonomous_fraction"):
            value = getattr(self, name)
            if value is None and name == "success_rate":
                continue                                  # not evaluated this round
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be in [0, 1], got {name}={value!r}")
        for name in ("interventions_per_episode", "requests_per_episode", "wall_time_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {name}={value!r}")
        if self.beta is not None and not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1] or None, got {self.beta=}")
        if self.threshold is not None and not (isinstance(self.threshold, (int, float))
                                               and math.isfinite(self.threshold)):
            raise ValueError(f"threshold must be finite or None, got {self.threshold=}")
        if self.request_rate is not None and not 0.0 <= self.request_rate <= 1.0:
            raise ValueError(f"request_rate must be in [0, 1] or None, got {self.request_rate=}")

    @classmethod
    def from_episodes(cls, round_num: int, episodes: Sequence, successes: Sequence[bool], *,
                      dataset_size: int, wall_time_s: float, beta: float | None = None,
                      mode: str = "human", threshold: float | None = None) -> "RoundMetrics":
        """Aggregate per-episode stats (``MuxStats``, or anything with ``ticks``,
        ``autonomous_ticks``, ``labels``, ``interventions``, ``requests``, ``context_switches``;
        ``scored_ticks`` and ``uncertain_ticks`` where they have them: the request rate)."""
        n = len(episodes)
        if n == 0 or len(successes) != n:
            raise ValueError(f"need one success flag per episode and at least one episode, got "
                             f"{n} episodes and {len(successes)} success flags")
        ticks = sum(e.ticks for e in episodes)
        scored = sum(getattr(e, "scored_ticks", 0) for e in episodes)
        uncertain = sum(getattr(e, "uncertain_ticks", 0) for e in episodes)
        return cls(
            round=round_num, episodes=n, success_rate=sum(bool(s) for s in successes) / n,
            expert_labels_added=int(sum(e.labels for e in episodes)),
            interventions_per_episode=sum(e.interventions for e in episodes) / n,
            requests_per_episode=sum(e.requests for e in episodes) / n,
            autonomous_fraction=sum(e.autonomous_ticks for e in episodes) / ticks if ticks else 0.0,
            context_switches=int(sum(e.context_switches for e in episodes)),
            dataset_size=int(dataset_size), wall_time_s=float(wall_time_s), beta=beta, mode=mode,
            threshold=threshold, request_rate=uncertain / scored if scored else None)


class RoundLog:
    """The rounds so far, persisted as JSON at ``path`` (read on construction if it exists)."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.rounds: list[RoundMetrics] = self.read(self.path) if os.path.exists(self.path) else []

    @staticmethod
    def read(path: str | os.PathLike) -> list[RoundMetrics]:
        with open(path) as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or doc.get("format") != LOG_FORMAT:
            raise ValueError(f"{path} is not a DAgger round log (format {LOG_FORMAT!r})")
        if doc.get("version") != LOG_VERSION:
            raise ValueError(f"{path}: unsupported round log version {doc.get('version')!r}, "
                             f"this reader knows {LOG_VERSION}")
        return [from_dict(RoundMetrics, r) for r in doc["rounds"]]

    def append(self, metrics: RoundMetrics) -> None:
        """Add the next round (its number must exceed the last one's) and write the file."""
        if self.rounds and metrics.round <= self.rounds[-1].round:
            raise ValueError(f"round numbers must increase: last is {self.rounds[-1].round}, got "
                             f"{metrics.round=}")
        self.rounds.append(metrics)
        try:
            self.write()
        except BaseException:
            self.rounds.pop()
            raise

    def write(self) -> None:
        doc = {"format": LOG_FORMAT, "version": LOG_VERSION,
               "rounds": [dataclasses.asdict(r) for r in self.rounds]}
        folder = os.path.dirname(os.path.abspath(self.path))
        tmp = os.path.join(folder, f".{os.path.basename(self.path)}.tmp.{os.getpid()}")
        try:
            with open(tmp, "w") as f:
                json.dump(doc, f, indent=2, allow_nan=False)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
