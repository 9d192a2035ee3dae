"""The run-time goal of a goal-conditioned policy: used when fresh and finite, else a stop."""

import numpy as np
import pytest

from bc_ros.core.policy.goal import GoalInput


def test_a_goal_is_used_until_replaced_and_a_bad_one_stops_the_robot():
    g = GoalInput(3)
    assert g.at(0.0).problem == "missing" and g.state == "missing"
    assert g.put([0.5, 0.1, 0.2], now=1.0) == ""
    np.testing.assert_allclose(g.at(100.0).goal, [0.5, 0.1, 0.2])     # no timeout: it holds
    assert g.put([0.5, float("nan"), 0.2], now=2.0) == "nonfinite"
    check = g.at(2.1)
    assert check.goal is None and "not finite" in check.text       # not the old goal either
    assert g.put([1.0, 2.0], now=3.0) == "size"
    assert "2 values, the policy wants 3" in g.at(3.0).text
    g.put([0.3, 0.3, 0.3], now=4.0)
    np.testing.assert_allclose(g.at(4.0).goal, [0.3, 0.3, 0.3])
    assert g.state == "ok" and g.received == 4


def test_a_goal_older_than_the_timeout_is_stale():
    g = GoalInput(3, timeout=0.5)
    g.put([0.0, 0.0, 0.0], now=10.0)
    assert g.at(10.4).goal is not None
    check = g.at(10.6)
    assert check.goal is None and check.problem == "stale" and "0.60 s old" in check.text
    with pytest.raises(ValueError, match="timeout >= 0"):
        GoalInput(3, timeout=-1)
