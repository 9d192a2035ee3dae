"""The goal a goal-conditioned policy is given at run time, from a topic (ROS-free).

The policy node keeps the latest goal it received. Before each inference it asks ``at(now)``
whether there is one it may use: none received yet, a non-finite one (which replaces the last
good goal: a robot told "go to NaN" must stop, not carry on to the old goal), or one older than
``timeout`` seconds (0: a goal holds until the next one) means the stop command instead, with
the reason. A new goal takes effect at the next inference. Time comes in as an argument.
"""

from __future__ import annotations

import dataclasses

import numpy as np

GOAL_PROBLEMS = ("missing", "nonfinite", "size", "stale")


@dataclasses.dataclass
class GoalCheck:
    goal: np.ndarray | None      # the goal to use, or None: send the stop command
    problem: str = ""            # one of GOAL_PROBLEMS when goal is None
    text: str = ""               # what was wrong, for the log


class GoalInput:
    def __init__(self, dim: int, timeout: float = 0.0):
        if dim < 1 or timeout < 0:
            raise ValueError(f"need dim >= 1 and timeout >= 0, got {dim=} {timeout=}")
        self.dim, self.timeout = dim, float(timeout)
        self._goal: np.ndarray | None = None
        self._received = -np.inf
        self._problem, self._text = "missing", "no goal received yet"
        self.received = 0

    def put(self, values, now: float) -> str:
        """A goal arrived at ``now``. Returns the problem ("" when it is usable); a bad goal
        replaces the last good one."""
        self.received += 1
        g = np.asarray(values, dtype=np.float64).reshape(-1)
        self._received = now
        if g.shape != (self.dim,):
            self._goal, self._problem = None, "size"
            self._text = f"goal has {g.size} values, the policy wants {self.dim}"
        elif not np.all(np.isfinite(g)):
            self._goal, self._problem = None, "nonfinite"
            self._text = f"goal is not finite: {g.tolist()}"
        else:
            self._goal, self._problem, self._text = g.astype(np.float32), "", ""
        return self._problem

    def at(self, now: float) -> GoalCheck:
        if self._goal is None:
            return GoalCheck(None, self._problem, self._text)
        age = now - self._received
        if self.timeout > 0 and age > self.timeout:
            return GoalCheck(None, "stale", f"the last goal is {age:.2f} s old (goal_timeout "
                                            f"{self.timeout:g} s)")
        return GoalCheck(self._goal)

    @property
    def problem_text(self) -> str:
        """What is wrong with the latest goal ("" when it is usable)."""
        return self._text

    @property
    def state(self) -> str:
        """For diagnostics: ok, or the problem of the latest goal."""
        return "ok" if self._goal is not None else self._problem
