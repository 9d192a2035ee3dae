"""HG-DAgger labelling (ROS-free): which ticks of an episode become expert training data.

Input: the per-tick control sources the recorder stored (``CommandMux`` decision sources:
``"policy"``, ``"expert"``, ``"hold"``, ``"blend"``, ``"stop"``; bytes as h5py returns them are
accepted).

Intervention segments. An intervention starts at an ``"expert"`` tick while the episode is
autonomous (episodes start autonomous) and lasts until the next ``"policy"`` or ``"blend"`` tick
(the hand-back) or the end of the episode. ``"hold"`` and ``"stop"`` ticks continue whatever
segment is in progress, so a hand-back hold or a stale expert inside an intervention does not split
it, and a stop while autonomous does not start one. (An intervention during which the expert never
commanded a tick - only stops - is not seen here, though the mux counted it.)

Labels. Only ``"expert"`` ticks are labelled: the human was engaged and its command executed (hold
ticks after the release and stops are not). Optionally the ``context_ticks`` ticks before each
takeover are kept as *context* (pre-intervention states, as in Sirius, Liu et al. 2022): the
window [start - k, start), clipped at the episode start and at the end of the previous
intervention. Their action is whatever the dataset stores for them (the executed command), so a
trainer can weight them differently; ``context_mask`` returns them alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bc_ros.core.dagger.mux import SOURCES

_ENDS = ("policy", "blend")   # ticks that end an intervention


def _sources(sources) -> list[str]:
    out = []
    for i, s in enumerate(sources):
        if isinstance(s, (bytes, np.bytes_)):
            s = s.decode()
        s = str(s)
        if s not in SOURCES:
            raise ValueError(f"unknown control source {s!r} at tick {i}; known: {SOURCES}")
        out.append(s)
    return out


def intervention_segments(sources) -> list[tuple[int, int]]:
    """[start, end) tick ranges of the interventions (end = the hand-back tick or the length)."""
    src = _sources(sources)
    segments, start = [], None
    for i, s in enumerate(src):
        if start is None and s == "expert":
            start = i
        elif start is not None and s in _ENDS:
            segments.append((start, i))
            start = None
    if start is not None:
        segments.append((start, len(src)))
    return segments


def context_mask(sources, context_ticks: int) -> np.ndarray:
    """Bool (T,): the up to ``context_ticks`` autonomous ticks right before each takeover."""
    if isinstance(context_ticks, bool) or not isinstance(context_ticks, (int, np.integer)) \
            or context_ticks < 0:
        raise ValueError(f"context_ticks must be an integer >= 0, got {context_ticks=}")
    src = _sources(sources)
    mask = np.zeros(len(src), dtype=bool)
    previous_end = 0
    for start, end in intervention_segments(src):
        mask[max(previous_end, start - context_ticks):start] = True
        previous_end = end
    return mask


def hg_dagger_mask(sources, *, context_ticks: int = 0) -> np.ndarray:
    """Bool (T,): ticks labelled as expert data (``"expert"`` ticks) plus the context windows."""
    src = _sources(sources)
    expert = np.array([s == "expert" for s in src], dtype=bool)
    return expert | context_mask(src, context_ticks)


@dataclasses.dataclass
class EpisodeSummary:
    ticks: int
    interventions: int      # takeovers (human or robot-requested)
    handbacks: int          # interventions that ended before the episode did
    expert_ticks: int       # labelled ticks
    autonomous_ticks: int   # "policy" ticks
    stop_ticks: int
    context_switches: int   # takeovers + hand-backs

    @property
    def autonomous_fraction(self) -> float:
        return self.autonomous_ticks / self.ticks if self.ticks else 0.0


def summarize_episode(sources) -> EpisodeSummary:
    """Counts for one episode, computed from its sources alone."""
    src = _sources(sources)
    segments = intervention_segments(src)
    handbacks = sum(end < len(src) for _, end in segments)
    return EpisodeSummary(
        ticks=len(src), interventions=len(segments), handbacks=handbacks,
        expert_ticks=src.count("expert"), autonomous_ticks=src.count("policy"),
        stop_ticks=src.count("stop"), context_switches=len(segments) + handbacks)
