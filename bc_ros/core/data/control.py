"""Who was in control at each tick, as the recorder stores it (``control``, from the DAgger mux's
``dagger/control``), and what follows from it alone: the interventions and the ticks before them.

Sources, one code each: ``"expert"`` 0, ``"policy"`` 1, ``"hold"`` 2 (the human released; the
expert's command still executes during the hysteresis), ``"blend"`` 3 (just handed back: a
blend of the last command and the policy's), ``"stop"`` 4 (the source in control is stale or
invalid: the stop command executes); -1 when unknown.

Intervention segments. An intervention starts at an ``"expert"`` tick while the episode is
autonomous (episodes start autonomous) and lasts until the next ``"policy"`` or ``"blend"`` tick
(the hand-back) or the end of the episode. ``"hold"`` and ``"stop"`` ticks continue whatever
segment is in progress, so a hand-back hold or a stale expert inside an intervention does not split
it, and a stop while autonomous does not start one.

Context windows: the ``context_ticks`` ticks before each takeover (pre-intervention states, as in
Sirius, Liu et al. 2022), clipped at the episode start and at the end of the previous
intervention. The dataset keeps them as training ticks; ``core/dagger/labels.py`` builds the
HG-DAgger labels and episode summaries on these.
"""

from __future__ import annotations

import numpy as np

CONTROL_UNKNOWN, CONTROL_EXPERT, CONTROL_POLICY = -1, 0, 1
CONTROL_HOLD, CONTROL_BLEND, CONTROL_STOP = 2, 3, 4
CONTROL_CODES = {"expert": CONTROL_EXPERT, "policy": CONTROL_POLICY, "hold": CONTROL_HOLD,
                 "blend": CONTROL_BLEND, "stop": CONTROL_STOP}
SOURCES = ("policy", "expert", "hold", "blend", "stop")

_ENDS = ("policy", "blend")   # ticks that end an intervention


def sources_of(sources) -> list[str]:
    """The sources as str (bytes as h5py returns them are accepted); unknown ones are an
    error naming the tick."""
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
    src = sources_of(sources)
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
    src = sources_of(sources)
    mask = np.zeros(len(src), dtype=bool)
    previous_end = 0
    for start, end in intervention_segments(src):
        mask[max(previous_end, start - context_ticks):start] = True
        previous_end = end
    return mask


def context_from_control(control: np.ndarray, ticks: int) -> np.ndarray:
    """``context_mask`` of recorded control codes (a tick with no code continues whatever was in
    progress, as a stop does)."""
    names = {code: name for name, code in CONTROL_CODES.items()}
    return context_mask([names.get(int(c), "stop") for c in control], ticks)
