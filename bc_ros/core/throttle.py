"""Log throttling by (source, problem), so that one fault never hides another.

rclpy's ``throttle_duration_sec`` throttles a logging *call site*: one line that logs every
stream's bad messages lets a camera's wrong encoding silence the state's NaNs for as long as the
first keeps coming. ``ProblemLog`` keeps one throttle per key (for example ``("image_left",
"encoding")``), counts what it held back, and says so when the key speaks again. Time comes in as
an argument (any monotonic clock), so it is tested without sleeping.
"""

from __future__ import annotations

import collections


class ProblemLog:
    def __init__(self, period_s: float = 2.0):
        if period_s < 0:
            raise ValueError(f"period_s must be >= 0, got {period_s=}")
        self.period_s = period_s
        self._last: dict[tuple, float] = {}
        self.logged: collections.Counter = collections.Counter()       # key -> lines given
        self.suppressed: collections.Counter = collections.Counter()   # key -> held back now

    def message(self, key: tuple, text: str, now: float) -> str | None:
        """``text`` to log now for ``key`` (with how many of the same were held back since it
        was last logged), or None when ``key`` logged less than ``period_s`` ago."""
        last = self._last.get(key)
        if last is not None and now - last < self.period_s:
            self.suppressed[key] += 1
            return None
        self._last[key] = now
        self.logged[key] += 1
        held = self.suppressed.pop(key, 0)
        return f"{text} (and {held} more like it since the last report)" if held else text
