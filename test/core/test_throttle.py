"""One throttle per (source, problem): a frequent fault does not hide a rare one."""

import pytest

from bc_ros.core.throttle import ProblemLog


def test_each_key_has_its_own_throttle_and_reports_what_it_held_back():
    log = ProblemLog(period_s=2.0)
    assert log.message(("image_left", "encoding"), "16UC1", now=0.0) == "16UC1"
    # the camera keeps failing: held back ...
    assert log.message(("image_left", "encoding"), "16UC1", now=0.5) is None
    assert log.message(("image_left", "encoding"), "16UC1", now=1.0) is None
    # ... but the state's NaN and the right camera's encoding still get through at once
    assert log.message(("state", "nonfinite"), "inf in state", now=1.0) == "inf in state"
    assert log.message(("image_right", "encoding"), "16UC1", now=1.1) == "16UC1"
    # after the period the first key speaks again and says how many it held back
    assert log.message(("image_left", "encoding"), "16UC1", now=2.0) == (
        "16UC1 (and 2 more like it since the last report)")
    assert log.message(("image_left", "encoding"), "16UC1", now=4.5) == "16UC1"


def test_a_negative_period_is_refused():
    with pytest.raises(ValueError, match="period_s"):
        ProblemLog(-1.0)
