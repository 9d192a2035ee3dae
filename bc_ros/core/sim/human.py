"""A simulated human supervisor for HG-DAgger in sim (ROS-free).

A person watching a robot takes over when it has clearly gone wrong and lets go once it is back on
track. ``SimulatedHuman`` makes that rule explicit on privileged sim state, the robot's tracking
error from the expert's reference path (``SimEnv.tracking_error``: lateral offset in metres,
heading error in radians), once per control tick:

- released: engage when ``|lateral| > engage_lateral`` or ``|heading| > engage_heading``;
- engaged: release on the ``release_ticks``-th consecutive tick with
  ``|lateral| < release_lateral`` and ``|heading| < release_heading`` (the smaller band:
  hysteresis, so the expert brings the robot well back before handing over, and a robot hovering
  at the edge does not flicker).

Engaged at tick k means the human holds control from tick k on (``sim_node`` publishes the flag on
``expert/engaged`` with the tick's observation; ``dagger_node`` in human mode executes the expert's
command from that tick, and its own ``handback_ticks`` hold follows the release). While engaged,
the scripted expert's command is what the human commands.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class HumanRule:
    engage_lateral: float = 0.7     # m
    engage_heading: float = 0.6     # rad
    release_lateral: float = 0.3    # m
    release_heading: float = 0.25   # rad
    release_ticks: int = 5

    def __post_init__(self):
        for name in ("engage_lateral", "engage_heading", "release_lateral", "release_heading"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {name}={value!r}")
        if self.release_lateral >= self.engage_lateral \
                or self.release_heading >= self.engage_heading:
            raise ValueError(f"the release band must lie inside the engage band, got "
                             f"release_lateral={self.release_lateral} >= engage_lateral="
                             f"{self.engage_lateral} or release_heading={self.release_heading} "
                             f">= engage_heading={self.engage_heading}")
        if isinstance(self.release_ticks, bool) or not isinstance(self.release_ticks, int) \
                or self.release_ticks < 1:
            raise ValueError(f"release_ticks must be an integer >= 1, got "
                             f"{self.release_ticks=}")


class SimulatedHuman:
    """Engage / release decisions from the tracking error, one ``update`` per tick."""

    def __init__(self, rule: HumanRule):
        self.rule = rule
        self.reset()

    def reset(self) -> None:
        """A new episode: released."""
        self.engaged = False
        self.calm_ticks = 0          # consecutive ticks inside the release band while engaged
        self.interventions = 0

    def update(self, lateral: float, heading: float) -> bool:
        """The tick's tracking error -> whether the human holds control this tick."""
        r = self.rule
        lat, head = abs(float(lateral)), abs(float(heading))
        if not self.engaged:
            if lat > r.engage_lateral or head > r.engage_heading:
                self.engaged, self.calm_ticks = True, 0
                self.interventions += 1
            return self.engaged
        self.calm_ticks = self.calm_ticks + 1 if (lat < r.release_lateral
                                                  and head < r.release_heading) else 0
        if self.calm_ticks >= r.release_ticks:
            self.engaged, self.calm_ticks = False, 0
        return self.engaged
