"""Align several timestamped streams to one control tick (ROS-free; the recorder and the policy
node both use it, so live recording and inference see observations assembled the same way).

Rule: for a tick at time ``t`` each stream contributes its latest sample stamped at or before
``t``. If that sample is older than the stream's tolerance it is *stale*; if the stream has no
sample at or before ``t`` it is *missing*. Either way the tick is flagged and the stream's value is
``None``. Each stream's original stamp and its skew ``t - stamp`` are reported, so what was
aligned can be audited afterwards.

Samples whose stamp goes backwards (older than the stream's newest) are rejected and counted:
they would make "latest at or before" ambiguous. A zero or negative stamp is rejected too (an
unset header), and so is a non-finite one. With ``restart_after`` set, a sample that far behind
its stream's newest means that stream's clock restarted (a restarted sim, a driver whose one bad
stamp lay in the future): the stream's buffer is cleared, the sample kept and the restart
counted, so no single sample can silence a stream for longer than ``restart_after`` seconds.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import math
from typing import Any

# Stamps within this many seconds after a tick count as "at" the tick: stamps travel as integer
# nanoseconds and ticks are computed in floating point.
STAMP_EPS = 1e-6


@dataclasses.dataclass
class AlignedTick:
    time: float
    values: dict[str, Any]          # stream -> value (None when missing or stale)
    stamps: dict[str, float | None]  # stream -> stamp of the sample used (None when missing)
    skew: dict[str, float | None]   # stream -> time - stamp, seconds
    missing: list[str]              # streams with no sample at or before the tick
    stale: list[str]                # streams whose latest sample is older than the tolerance

    @property
    def complete(self) -> bool:
        return not self.missing and not self.stale


class StreamAligner:
    """Buffers samples per stream and answers "what did each stream say at time t".

    Args:
        tolerances: stream name -> maximum age in seconds of the sample used for a tick.
        horizon: seconds of history kept per stream (older samples are dropped); must cover the
            largest delay between a sample's stamp and the tick that uses it.
        restart_after: seconds; a sample this far behind its stream's newest restarts the
            stream (None: it is rejected as ``stamp_backwards``, and the caller decides).
    """

    def __init__(self, tolerances: dict[str, float], horizon: float = 2.0,
                 restart_after: float | None = None):
        if not tolerances:
            raise ValueError("at least one stream is needed")
        for name, tol in tolerances.items():
            if not tol > 0:
                raise ValueError(f"tolerance of stream {name!r} must be > 0 seconds, got {tol}")
        if horizon <= max(tolerances.values()):
            raise ValueError(f"horizon must exceed every tolerance, got {horizon=} for "
                             f"tolerances {tolerances}")
        if restart_after is not None and not restart_after > 0:
            raise ValueError(f"restart_after must be > 0 seconds or None, got {restart_after=}")
        self.tolerances = dict(tolerances)
        self.horizon = float(horizon)
        self.restart_after = restart_after
        self._stamps = {name: collections.deque() for name in tolerances}
        self._values = {name: collections.deque() for name in tolerances}
        self.rejected = collections.Counter()  # (stream, reason) -> count
        self.restarts = collections.Counter()  # stream -> clock restarts seen

    def add(self, stream: str, stamp: float, value: Any) -> bool:
        """Buffer one sample. Returns False (and counts why) if it was rejected."""
        if stream not in self._stamps:
            raise KeyError(f"unknown stream {stream!r}; streams: {list(self._stamps)}")
        stamps = self._stamps[stream]
        if not math.isfinite(stamp):
            self.rejected[(stream, "nonfinite_stamp")] += 1
            return False
        if stamp <= 0.0:
            self.rejected[(stream, "zero_stamp")] += 1
            return False
        if stamps and stamp < stamps[-1]:
            if self.restart_after is None or stamps[-1] - stamp < self.restart_after:
                self.rejected[(stream, "stamp_backwards")] += 1
                return False
            stamps.clear()
            self._values[stream].clear()
            self.restarts[stream] += 1
        if stamps and stamp == stamps[-1]:
            self._values[stream][-1] = value  # a repeat of the same sample: keep the newest copy
            return True
        stamps.append(stamp)
        self._values[stream].append(value)
        while stamps and stamps[0] < stamp - self.horizon:
            stamps.popleft()
            self._values[stream].popleft()
        return True

    def newest(self, stream: str) -> float | None:
        """Stamp of the newest sample of ``stream`` (None if none is buffered)."""
        stamps = self._stamps[stream]
        return stamps[-1] if stamps else None

    def sample(self, t: float, since: float = -float("inf")) -> AlignedTick:
        """The aligned values at tick time ``t``; samples stamped before ``since`` (an earlier
        episode's) count as absent."""
        values, stamps, skews, missing, stale = {}, {}, {}, [], []
        for name, buffer in self._stamps.items():
            i = bisect.bisect_right(buffer, t + STAMP_EPS) - 1
            if i < 0 or buffer[i] < since - STAMP_EPS:
                values[name] = stamps[name] = skews[name] = None
                missing.append(name)
                continue
            stamp = buffer[i]
            stamps[name], skews[name] = stamp, t - stamp
            if t - stamp > self.tolerances[name] + STAMP_EPS:
                values[name] = None
                stale.append(name)
            else:
                values[name] = self._values[name][i]
        return AlignedTick(t, values, stamps, skews, missing, stale)

    def clear(self) -> None:
        for name in self._stamps:
            self._stamps[name].clear()
            self._values[name].clear()
