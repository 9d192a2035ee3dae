"""policy_node's tick decisions without ROS: the realtime watchdog's timeline, lockstep's one
command per new complete observation, rejected samples and clock restarts, resending."""

import math

import pytest

from bc_ros.nodes.policy.ticking import (ADDED, CLOCK_RESTART_S, INFER, NONE, REJECTED, REPEAT,
                                         RESTARTED, STOP, SentCommand, Ticker, observation)

TOPICS = {"image_center": "camera/center/image_raw", "state": "odom"}


def feed(ticker, t, streams=("image_center", "state")):
    """A sample of each stream stamped ``t``; the image's value is its stamp."""
    for s in streams:
        assert ticker.add(s, t, f"img{t}" if s.startswith("image_") else [t, 0.0]).status == ADDED


def tick(ticker, t):
    return ticker.realtime(ticker.sample(t))


# ---- realtime ---------------------------------------------------------------------------------
def test_no_data_at_the_start_is_a_stop_without_a_trip():
    ticker = Ticker(TOPICS, obs_timeout=0.25)
    decision = tick(ticker, 5.0)
    assert decision.what == STOP and not decision.tripped
    assert decision.why == "camera/center/image_raw missing, odom missing"
    assert ticker.watchdog == "missing"
    assert ticker.stale_streams == ["camera/center/image_raw", "odom"]


def test_watchdog_stops_on_stale_data_trips_once_and_resumes_from_a_cleared_history():
    ticker = Ticker(TOPICS, obs_timeout=0.25)
    feed(ticker, 1.0)
    first = tick(ticker, 1.0)
    assert first.what == INFER and first.resumed_from == "missing"   # the first fresh data
    assert first.obs == {"images": {"center": "img1.0"}, "state": [1.0, 0.0]}
    assert ticker.watchdog == "ok"
    assert tick(ticker, 1.2) == (INFER, first.obs, "", False, "")    # 0.2 s old: still fresh

    stale = tick(ticker, 1.3)                                        # 0.3 s old
    assert stale.what == STOP and stale.tripped and stale.obs is None
    assert stale.why == "camera/center/image_raw 0.30 s old, odom 0.30 s old"
    assert ticker.watchdog == "stale"
    again = tick(ticker, 1.4)
    assert again.what == STOP and not again.tripped                  # one trip per outage

    feed(ticker, 1.5)
    back = tick(ticker, 1.5)
    assert back.what == INFER and back.resumed_from == "stale"
    assert ticker.watchdog == "ok" and ticker.stale_streams == []
    assert tick(ticker, 1.6).resumed_from == ""


def test_only_the_stale_stream_is_named():
    ticker = Ticker(TOPICS, obs_timeout=0.25)
    feed(ticker, 1.0)
    tick(ticker, 1.0)
    feed(ticker, 1.5, streams=["state"])
    decision = tick(ticker, 1.5)
    assert decision.what == STOP and decision.why == "camera/center/image_raw 0.50 s old"
    assert ticker.stale_streams == ["camera/center/image_raw"]


def test_a_policy_without_state_ticks_on_images_alone():
    ticker = Ticker({"image_left": "camera/left/image_raw"}, obs_timeout=0.1)
    ticker.add("image_left", 2.0, "img")
    assert tick(ticker, 2.05).obs == {"images": {"left": "img"}, "state": None}


# ---- lockstep ---------------------------------------------------------------------------------
def test_lockstep_acts_once_per_new_complete_observation():
    ticker = Ticker(TOPICS, obs_timeout=0.25)
    ticker.add("image_center", 1.0, "img1.0")
    assert ticker.lockstep(1.0).what == NONE              # the state for 1.0 is not in yet
    assert ticker.last_step == -math.inf
    ticker.add("state", 1.0, [1.0, 0.0])
    decision = ticker.lockstep(1.0)
    assert decision.what == INFER and ticker.last_step == 1.0
    assert decision.obs == {"images": {"center": "img1.0"}, "state": [1.0, 0.0]}
    assert ticker.lockstep(1.0).what == REPEAT            # the same stamp again
    assert ticker.lockstep(1.0 + 5e-7).what == REPEAT     # within STAMP_EPS: the same stamp
    assert ticker.lockstep(0.9).what == NONE              # older than the last one acted on
    feed(ticker, 1.1)
    assert ticker.lockstep(1.1).what == INFER and ticker.last_step == 1.1


def test_lockstep_needs_every_stream_at_the_stamp_not_just_fresh():
    ticker = Ticker(TOPICS, obs_timeout=0.25)
    feed(ticker, 1.0)
    ticker.lockstep(1.0)
    ticker.add("image_center", 1.1, "img1.1")              # the state of 1.0 is fresh at 1.1
    assert ticker.lockstep(1.1).what == NONE and ticker.last_step == 1.0


# ---- samples ----------------------------------------------------------------------------------
def test_zero_and_slightly_older_stamps_are_rejected():
    ticker = Ticker(TOPICS, obs_timeout=0.25)
    assert ticker.add("state", 0.0, [0.0]) == (REJECTED, None)   # an unset header
    feed(ticker, 10.0)
    assert ticker.add("state", 10.0 - CLOCK_RESTART_S + 0.1, [0.0]) == (REJECTED, 10.0)
    assert ticker.aligner.newest("state") == 10.0


def test_a_stamp_far_behind_restarts_from_that_sample():
    ticker = Ticker(TOPICS, obs_timeout=0.25)
    feed(ticker, 50.0)
    assert ticker.lockstep(50.0).what == INFER
    assert ticker.add("state", 1.0, [1.0, 0.0]) == (RESTARTED, 50.0)
    assert ticker.aligner.newest("state") == 1.0
    assert ticker.aligner.newest("image_center") is None   # everything before is dropped
    assert ticker.last_step == -math.inf                   # so the new 1.0 is new
    ticker.add("image_center", 1.0, "img1.0")
    assert ticker.lockstep(1.0).what == INFER


# ---- resending --------------------------------------------------------------------------------
@pytest.mark.parametrize("sent_at, delivered, missed", [
    (1.0, False, True),      # nobody was subscribed when it went out: resend
    (1.0, True, False),      # it is on its way: a second one would step twice
    (0.9, False, False),     # it answers another observation
])
def test_a_repeated_observation_gets_its_command_again_only_if_it_was_missed(sent_at,
                                                                             delivered, missed):
    sent = SentCommand(sent_at, msg="cmd", score_msg=None, delivered=delivered)
    assert sent.missed(1.0) is missed


def test_observation_maps_streams_to_the_runners_keys():
    values = {"image_left": 1, "image_right": 2, "state": 3}
    assert observation(values) == {"images": {"left": 1, "right": 2}, "state": 3}
