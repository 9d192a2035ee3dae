"""The simulated human of HG-DAgger in sim: engage beyond the outer band, release after a run of
ticks inside the inner band; its tracking error on the drone; the session's per-tick flag."""

import math

import numpy as np
import pytest

from bc_ros.core.sim.human import HumanRule, SimulatedHuman
from bc_ros.core.sim.session import SimConfig, SimSession
from test.core.sim.stub_env import PointEnv

RULE = HumanRule(engage_lateral=0.7, engage_heading=0.6, release_lateral=0.3,
                 release_heading=0.25, release_ticks=3)


def flags(human, errors):
    return [human.update(lat, head) for lat, head in errors]


def test_engages_beyond_either_band_and_releases_on_the_third_calm_tick():
    human = SimulatedHuman(RULE)
    errors = [(0.5, 0.0), (0.71, 0.0),              # engages at tick 1
              (0.5, 0.0), (0.2, 0.0), (0.2, 0.3),   # not calm yet (heading 0.3 >= 0.25)
              (0.2, 0.1), (0.1, 0.0), (0.0, 0.0),   # calm x3 -> released at tick 7
              (0.0, -0.61)]                          # heading alone engages again
    assert flags(human, errors) == [False, True, True, True, True, True, True, False, True]
    assert human.interventions == 2
    human.reset()
    assert not human.engaged and human.interventions == 0


def test_between_the_bands_nothing_changes():
    human = SimulatedHuman(RULE)
    assert flags(human, [(0.5, 0.5)] * 5) == [False] * 5      # never engages
    assert flags(human, [(-0.8, 0.0)] + [(0.5, 0.5)] * 20) == [True] * 21   # never releases


def test_the_rule_is_validated():
    with pytest.raises(ValueError, match="release band must lie inside the engage band"):
        HumanRule(engage_lateral=0.3, release_lateral=0.3)
    with pytest.raises(ValueError, match="release_ticks must be an integer >= 1"):
        HumanRule(release_ticks=0)
    with pytest.raises(ValueError, match="engage_heading must be finite and > 0"):
        HumanRule(engage_heading=math.nan)
    with pytest.raises(ValueError, match="release_heading=1.0"):     # through SimConfig
        SimConfig(human_release_heading=1.0, human_engage_heading=0.5)


def test_a_sim_without_a_reference_path_refuses_a_simulated_human():
    with pytest.raises(ValueError, match="simulated_human needs a sim with a reference path"):
        SimSession(SimConfig(robot="drone", simulated_human=True), env=PointEnv())


def test_drone_tracking_error_and_the_session_flag_once_per_tick():
    """Flying straight sideways: the lateral error grows until the human engages; the session
    decides the flag once per tick (a repeated observation keeps it)."""
    s = SimSession(SimConfig(robot="drone", task="trail", mode="lockstep", image_width=32,
                             image_height=32, simulated_human=True, human_release_ticks=2))
    try:
        s.start_episode(3)
        lat0, head0 = s.env.tracking_error()
        assert abs(lat0) <= 0.3 + 1e-9 and abs(head0) <= 0.15 + 0.05   # the start pose
        engaged_at, errors = None, []
        for k in range(40):
            errors.append(s.env.tracking_error())
            if s.human_engaged() and engaged_at is None:
                engaged_at = k
            assert s.human_engaged() == s.human_engaged()    # decided once per tick
            if s.step(np.array([0.5, 1.5, 0.0, 0.0])) is not None:
                break
        assert engaged_at is not None
        lat, head = errors[engaged_at]
        assert lat > 0.7 or abs(head) > 0.6                   # drifting left (+)
        assert all(abs(a) <= 0.7 and abs(b) <= 0.6 for a, b in errors[:engaged_at])
    finally:
        s.close()
