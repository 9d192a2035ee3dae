"""When policy_node acts (ROS-free): which samples it keeps, when a tick or an observation leads
to a command, and when the watchdog sends the stop command instead.

    ticker = Ticker({"image_center": "camera/center/image_raw", "state": "odom"}, obs_timeout=0.25)
    ticker.add("state", t, value)          # every sample: added, rejected, or the clock restarted
    ticker.realtime(ticker.sample(t))      # a realtime tick: infer (maybe after a resume) or stop
    ticker.lockstep(t)                     # lockstep, after a sample at t: infer, repeat or none

Samples are buffered in a ``StreamAligner`` (the recorder's rule: each stream's latest sample at
or before the tick, no older than ``obs_timeout``).

- Realtime: a tick whose observation is incomplete (a stream missing, or older than
  ``obs_timeout``) is a ``stop``. The watchdog starts ``missing``, trips (``ok`` -> ``stale``) at
  the first incomplete tick after a complete one and stays tripped until a complete tick, which
  is an ``infer`` that says what the watchdog ``resumed_from``: the policy then restarts from a
  cleared history (its queued actions were planned from data that is now old).
- Lockstep: an observation is acted on once, when every stream has a sample with its stamp
  (``infer``). The same stamp again is a ``repeat``: its command is sent again only if it went out
  before anyone subscribed (``SentCommand.missed``).
- A sample stamped far behind its stream's newest (``CLOCK_RESTART_S``) means the clock restarted
  (a restarted sim, a looped bag): everything buffered is dropped and the sample starts afresh.
  One stamped zero or a little older than the newest is rejected.

Not thread-safe: the node calls it from its executor callbacks only. Whether the node is enabled
and whether the inference thread is busy are the node's to check.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

from bc_ros.core.data.align import STAMP_EPS, AlignedTick, StreamAligner

CLOCK_RESTART_S = 1.0       # a stamp this far behind its stream's newest: the clock restarted

# SampleResult.status
ADDED, REJECTED, RESTARTED = "added", "rejected", "restarted"
# TickDecision.what
INFER, STOP, REPEAT, NONE = "infer", "stop", "repeat", "none"


class SampleResult(NamedTuple):
    status: str                    # added | rejected | restarted
    newest: float | None = None    # rejected, restarted: the stream's newest stamp before it


class TickDecision(NamedTuple):
    what: str                      # infer | stop | repeat (lockstep) | none (lockstep)
    obs: dict | None = None        # infer: {"images": {camera: image}, "state": value or None}
    resumed_from: str = ""         # realtime infer: missing | stale when the watchdog just
                                   # cleared (restart from a cleared history), else ""
    tripped: bool = False          # stop: the watchdog was ok until this tick
    why: str = ""                  # stop: each bad stream's topic and "missing" or its age


@dataclasses.dataclass
class SentCommand:
    """The last command published: kept so a repeated lockstep observation can get it again."""

    time: float                    # the tick (realtime) or the observation stamp (lockstep), s
    msg: Any                       # the command message, as published
    score_msg: Any                 # its policy/uncertainty message (None without an ensemble)
    delivered: bool                # someone was subscribed when it went out

    def missed(self, t: float) -> bool:
        """It answers the observation at ``t`` and went out before anyone subscribed. (Else it
        is on its way, and a second one would step the sim twice.)"""
        return abs(self.time - t) <= STAMP_EPS and not self.delivered


def observation(values: dict) -> dict:
    """The runner's observation from aligned stream values (``image_<camera>``, ``state``)."""
    images = {s[len("image_"):]: v for s, v in values.items() if s.startswith("image_")}
    return {"images": images, "state": values.get("state")}


class Ticker:
    """Samples in, decisions out; the watchdog's state is readable for diagnostics.

    Args:
        topics: stream name (``image_<camera>``, ``state``) -> its topic, as messages name it.
        obs_timeout: seconds; a stream whose latest sample at a tick is older is stale.
    """

    def __init__(self, topics: dict[str, str], obs_timeout: float):
        self.topics = dict(topics)
        self.aligner = StreamAligner({s: obs_timeout for s in self.topics},
                                     horizon=max(2.0, 4 * obs_timeout))
        self.watchdog = "missing"            # missing | stale | ok (realtime)
        self.stale_streams: list[str] = []   # the topics that tripped it
        self.last_step = -math.inf           # lockstep: stamp of the last observation acted on

    def add(self, stream: str, t: float, value) -> SampleResult:
        """Buffer a sample stamped ``t``. After a clock restart the buffers are cleared, the
        lockstep history forgotten and the sample added: the caller resets the policy."""
        if self.aligner.add(stream, t, value):
            return SampleResult(ADDED)
        newest = self.aligner.newest(stream)
        if newest is None or t > newest - CLOCK_RESTART_S or t <= 0.0:
            return SampleResult(REJECTED, newest)
        self.aligner.clear()
        self.last_step = -math.inf
        self.aligner.add(stream, t, value)
        return SampleResult(RESTARTED, newest)

    def sample(self, t: float) -> AlignedTick:
        """The aligned observation at tick time ``t``."""
        return self.aligner.sample(t)

    def realtime(self, tick: AlignedTick) -> TickDecision:
        """A realtime tick while the node is enabled: ``stop`` (watchdog) or ``infer``."""
        if not tick.complete:
            bad = tick.missing + tick.stale
            tripped = self.watchdog == "ok"
            self.watchdog = "stale" if self.watchdog != "missing" else "missing"
            self.stale_streams = [self.topics[s] for s in bad]
            why = ", ".join(f"{self.topics[s]} " + ("missing" if s in tick.missing else
                                                    f"{tick.skew[s]:.2f} s old")
                            for s in bad)
            return TickDecision(STOP, tripped=tripped, why=why)
        resumed_from = ""
        if self.watchdog != "ok":
            resumed_from = self.watchdog
            self.watchdog, self.stale_streams = "ok", []
        return TickDecision(INFER, observation(tick.values), resumed_from=resumed_from)

    def lockstep(self, t: float) -> TickDecision:
        """After a sample stamped ``t``: ``infer`` if the observation at ``t`` is new and
        complete, ``repeat`` if it was acted on already, else ``none`` (older than the last one
        acted on, or some stream has not sent its sample for ``t`` yet)."""
        if t <= self.last_step + STAMP_EPS:
            return TickDecision(REPEAT if abs(t - self.last_step) <= STAMP_EPS else NONE)
        tick = self.aligner.sample(t)
        if not all(s is not None and abs(s - t) <= STAMP_EPS for s in tick.stamps.values()):
            return TickDecision(NONE)
        self.last_step = t
        return TickDecision(INFER, observation(tick.values))
