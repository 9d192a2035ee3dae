"""What policy_node reports on /diagnostics (ROS-free): its counts, the achieved tick and command
rates, the inference times, and the status level and message they add up to.

    stats = PolicyStats()
    stats.record_tick(t); stats.record_command(t); stats.record_inference(ms)
    stats.counts["stop_commands"] += 1
    values = diagnostics_values(stats.snapshot(), mode="realtime", ...)   # key -> str | number
    level, message = summary(values)                                      # "warn", "watchdog: ..."

Rates are measured over the last ``RATE_WINDOW_S`` seconds of ticks (or commands), on the times
they carry (sim time with ``use_sim_time``): (n - 1) / (newest - oldest). The inference mean and
p99 are over the last ``TIMING_WINDOW`` inferences. Counts the node never touched read 0.
"""

from __future__ import annotations

import collections
from typing import NamedTuple

import numpy as np

TIMING_WINDOW = 1000        # inference times kept for mean and p99
RATE_WINDOW_S = 2.0         # seconds of ticks over which the achieved rate is measured
COUNTS = ("ticks", "inferences", "commands", "stop_commands", "ticks_over_budget",
          "ticks_skipped", "dropped", "clamped", "nonfinite", "resized", "observation_errors",
          "bad_messages", "rejected_samples", "watchdog_trips", "resets", "swaps",
          "swap_failures", "loads_refused", "resent",
          "stops_unsent")   # as /diagnostics lists them
OK, WARN = "ok", "warn"     # summary levels (diagnostic_msgs/DiagnosticStatus OK, WARN)


def trim(times: collections.deque, now: float) -> None:
    """Keep the times of the last ``RATE_WINDOW_S`` seconds up to ``now`` (a time after ``now``
    is from before a clock restart)."""
    while times and (times[0] < now - RATE_WINDOW_S or times[0] > now):
        times.popleft()


def rate(times: list[float]) -> float:
    """Events per second over ``times`` (ascending): 0 with fewer than two distinct ones."""
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and \
        times[-1] > times[0] else 0.0


class StatsSnapshot(NamedTuple):
    counts: dict
    inference_ms: np.ndarray      # (n,) float64, oldest first
    tick_times: list[float]
    command_times: list[float]

    def figures(self) -> dict:
        """Rates, inference times (ms, 3 decimals) and every count of ``COUNTS``, in order."""
        timings = self.inference_ms
        d = {
            "rate_hz": round(rate(self.tick_times), 3),
            "command_rate_hz": round(rate(self.command_times), 3),
            "inference_ms_mean": round(float(timings.mean()), 3) if timings.size else 0.0,
            "inference_ms_p99": round(float(np.percentile(timings, 99)), 3)
            if timings.size else 0.0,
        }
        for key in COUNTS:
            d[key] = self.counts.get(key, 0)
        for key in sorted(k for k in self.counts if "/" in k):   # per source and problem,
            d[key] = self.counts[key]                            # e.g. image_left/encoding
        return d


class PolicyStats:
    """The node's running figures. Not locked: the node holds its lock around the inference
    thread's calls and around ``snapshot``."""

    def __init__(self):
        self.counts: collections.Counter = collections.Counter()
        self._inference_ms: collections.deque = collections.deque(maxlen=TIMING_WINDOW)
        self._tick_times: collections.deque = collections.deque()
        self._command_times: collections.deque = collections.deque()

    def record_tick(self, t: float) -> None:
        """A tick (realtime) or an observation acted on (lockstep) at ``t``, seconds."""
        self._tick_times.append(t)
        trim(self._tick_times, t)

    def record_command(self, t: float) -> None:
        """A command of the policy's (not a stop command) for the tick or observation at ``t``."""
        self._command_times.append(t)
        trim(self._command_times, t)

    def record_inference(self, ms: float) -> None:
        self._inference_ms.append(ms)

    def snapshot(self) -> StatsSnapshot:
        """A copy, so the figures are computed outside the node's lock."""
        return StatsSnapshot(dict(self.counts), np.asarray(self._inference_ms, dtype=np.float64),
                             list(self._tick_times), list(self._command_times))


def diagnostics_values(stats: StatsSnapshot, *, mode: str, checkpoint: str, head: str,
                       backend: str, cpu_dma_latency: str, enabled: bool, watchdog: str,
                       stale_streams: list[str], rate_target_hz: float) -> dict:
    """The figures /diagnostics carries, as a dict (strings, numbers), in the order it lists
    them. The watchdog and the target rate are realtime's; lockstep reports them off."""
    realtime = mode == "realtime"
    d = {
        "mode": mode, "checkpoint": checkpoint, "head": head, "backend": backend,
        "cpu_dma_latency": cpu_dma_latency, "enabled": enabled,
        "watchdog": watchdog if realtime else "off (lockstep)",
        "stale_streams": ",".join(stale_streams),
        "rate_target_hz": rate_target_hz if realtime else 0.0,
    }
    d.update(stats.figures())
    return d


def summary(values: dict) -> tuple[str, str]:
    """(level, message) of the status: ``warn`` while the watchdog holds the stop command or
    once inference has overrun its budget or skipped a tick, else ``ok``."""
    if not values["enabled"]:
        return OK, "disabled"
    if values["watchdog"] in ("stale", "missing"):
        return WARN, (f"watchdog: {values['watchdog']} {values['stale_streams']}; sending stop "
                      f"commands")
    if values["ticks_skipped"] or values["ticks_over_budget"]:
        return WARN, (f"running; inference over budget {values['ticks_over_budget']} times, "
                      f"{values['ticks_skipped']} ticks skipped")
    return OK, "running"
