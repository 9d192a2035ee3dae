"""HG-DAgger labelling (ROS-free): which ticks of an episode become expert training data.

Input: the per-tick control sources the recorder stored (``CommandMux`` decision sources:
``"policy"``, ``"expert"``, ``"hold"``, ``"blend"``, ``"stop"``; bytes as h5py returns them are
accepted). What an intervention segment and a context window are is defined with the sources in
``core/data/control.py`` (the dataset needs them too); an intervention during which the expert
never commanded a tick (only stops) is not seen there, though the mux counted it.

Labels. Only ``"expert"`` ticks are labelled: the human was engaged and its command executed (hold
ticks after the release and stops are not). Optionally the ``context_ticks`` ticks before each
takeover are kept as *context*; their action is whatever the dataset stores for them (the
executed command), so a trainer can weight them differently; ``context_mask`` returns them alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bc_ros.core.data.control import (context_mask, intervention_segments,  # noqa: F401
                                      sources_of)

def hg_dagger_mask(sources, *, context_ticks: int = 0) -> np.ndarray:
    """Bool (T,): ticks labelled as expert data (``"expert"`` ticks) plus the context windows."""
    src = sources_of(sources)
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
    src = sources_of(sources)
    segments = intervention_segments(src)
    handbacks = sum(end < len(src) for _, end in segments)
    return EpisodeSummary(
        ticks=len(src), interventions=len(segments), handbacks=handbacks,
        expert_ticks=src.count("expert"), autonomous_ticks=src.count("policy"),
        stop_ticks=src.count("stop"), context_switches=len(segments) + handbacks)
