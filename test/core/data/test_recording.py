"""The recorder's decisions with synthetic stamps: rows, flags, counters, episode boundaries."""

import numpy as np
import pytest

from bc_ros.core.data.recording import BAD_VALUE, MISSING, STALE, Recorder, RecorderConfig
from bc_ros.core.data.store import EpisodeStore


def config(tmp_path, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return RecorderConfig(dataset=str(tmp_path / "ds"), cameras=["center"], camera_yaw_deg=[0.0],
                          camera_lateral_m=[0.0], image_width=8, image_height=6, state_dim=2,
                          action_names=["vx", "yaw_rate"], record_executed=False, **kw)


def feed(rec, t, k, image=True, state=True, action=None):
    if image:
        rec.add("image_center", t, np.full((6, 8, 3), k, np.uint8))
    if state:
        rec.add("state", t, [k, -k])
    rec.add("action", t, action if action is not None else [0.1 * k, 0.0])


def test_ticks_on_the_grid_hold_the_aligned_values_and_stamps(tmp_path):
    rec = Recorder(config(tmp_path))
    rec.start(now=0.0, task="trail")
    for k in range(1, 6):
        feed(rec, k * 0.1, k)
        rec.update(now=k * 0.1)
    summary = rec.stop(now=0.5, success=True)
    assert summary["length"] == 6 and summary["success"] and summary["task"] == "trail"
    data = EpisodeStore(str(tmp_path / "ds")).read(0)
    np.testing.assert_allclose(data["time"], np.arange(6) * 0.1)
    # Tick 0 had no data yet: flagged missing everywhere; ticks 1..5 complete and exact.
    assert np.all(data["flags"][0] == MISSING) and not data["flags"][1:].any()
    assert data["image_center"][3, 0, 0, 0] == 3 and data["state"][5].tolist() == [5, -5]
    np.testing.assert_allclose(data["stamps"][2], [0.2, 0.2, 0.2])
    np.testing.assert_allclose(data["skew"][1:], 0.0, atol=1e-6)


def test_a_tick_waits_for_late_data_until_the_latency_then_flags_it(tmp_path):
    rec = Recorder(config(tmp_path, latency=0.3, state_tolerance=0.05))
    rec.start(now=0.1)
    feed(rec, 0.1, 1)
    assert rec.update(now=0.1) == 1              # everything for 0.1 is in
    feed(rec, 0.2, 2, state=False)                # state is late
    assert rec.update(now=0.2) == 0               # wait for it...
    assert rec.update(now=0.45) == 0
    assert rec.update(now=0.5) == 1               # ...until the latency has passed
    rec.stop(now=0.5, success=False)
    data = EpisodeStore(str(tmp_path / "ds")).read(0)
    streams = rec.config.streams
    assert data["flags"][1][streams.index("state")] == STALE  # latest state is 0.1 s old
    assert np.isnan(data["state"][1]).all()  # a stale value is not passed off as current


def test_non_finite_commands_are_stored_flagged_and_counted(tmp_path):
    rec = Recorder(config(tmp_path))
    rec.start(now=0.1)
    feed(rec, 0.1, 1)
    problem = rec.add("action", 0.2, [float("nan"), 0.0])
    assert "non-finite" in problem
    rec.add("image_center", 0.2, np.zeros((6, 8, 3), np.uint8))
    rec.add("state", 0.2, [0, 0])
    rec.update(now=0.2)
    summary = rec.stop(now=0.2, success=False)
    assert summary["counts"]["action_nonfinite"] == 1
    data = EpisodeStore(str(tmp_path / "ds")).read(0)
    assert data["flags"][1][rec.config.streams.index("action")] == BAD_VALUE


def test_wrong_image_size_is_rejected_or_resized(tmp_path):
    rec = Recorder(config(tmp_path))
    assert "expected 8x6" in rec.add("image_center", 0.1, np.zeros((12, 16, 3), np.uint8))
    rec2 = Recorder(config(tmp_path / "b", resize_images=True))
    assert rec2.add("image_center", 0.1, np.zeros((12, 16, 3), np.uint8)) is None
    assert rec2.counts["image_center_resized"] == 1


def test_backwards_stamps_are_rejected_and_counted(tmp_path):
    rec = Recorder(config(tmp_path))
    rec.start(now=0.0)
    rec.add("state", 0.3, [0, 0])
    assert "backwards" in rec.add("state", 0.2, [0, 0])
    assert "zero stamp" in rec.add("state", 0.0, [0, 0])
    assert rec.counts["state_stamp_backwards"] == 1 and rec.counts["state_zero_stamp"] == 1


def test_control_switches_count_interventions(tmp_path):
    rec = Recorder(config(tmp_path, record_control=True))
    rec.start(now=0.1)
    for k, who in enumerate([1, 1, 0, 0, 1, 0], start=1):
        feed(rec, k * 0.1, k)
        rec.add("control", k * 0.1, who)
        rec.update(now=k * 0.1)
    summary = rec.stop(now=0.6, success=True)
    assert summary["counts"]["interventions"] == 2
    assert summary["counts"]["control_switches"] == 3


def test_discard_and_empty_episodes_leave_nothing(tmp_path):
    rec = Recorder(config(tmp_path))
    rec.start(now=0.0)
    feed(rec, 0.1, 1)
    rec.discard()
    rec.start(now=5.0)
    assert rec.stop(now=5.0, success=True)["discarded"]
    assert EpisodeStore(str(tmp_path / "ds")).episodes == []
    with pytest.raises(RuntimeError, match="no episode"):
        rec.stop(now=6.0, success=True)


def test_meta_describes_streams_and_camera_poses(tmp_path):
    rec = Recorder(config(tmp_path))
    rec.start(now=0.0)
    info = rec.store.meta["info"]
    assert info["streams"] == ["image_center", "state", "action"]
    assert info["cameras"] == [{"name": "center", "yaw_deg": 0.0, "lateral_m": 0.0}]
    assert info["rate_hz"] == 10.0


def test_samples_of_the_previous_episode_never_fill_the_next(tmp_path):
    rec = Recorder(config(tmp_path))
    rec.start(now=0.1)
    feed(rec, 0.1, 1)
    rec.stop(now=0.1, success=True)
    rec.start(now=0.2, since=0.2)  # a sim reset at 0.2; its data has not arrived yet
    feed(rec, 0.3, 3)
    rec.update(now=0.3)
    rec.stop(now=0.3, success=True)
    data = EpisodeStore(str(tmp_path / "ds")).read(1)
    assert np.all(data["flags"][0] == MISSING)  # tick 0.2: nothing of this episode yet
    assert data["state"][1].tolist() == [3, -3]


def test_a_clock_jump_restarts_the_grid_instead_of_writing_every_period(tmp_path):
    rec = Recorder(config(tmp_path))
    rec.start(now=1.0)                      # sim time ...
    assert rec.update(now=1.8e9) < 10       # ... then a wall-clock `now`: no 1e10-row loop
    assert rec.counts["clock_jumps"] == 1


def test_a_silent_stream_is_reported_once_per_silence(tmp_path):
    rec = Recorder(config(tmp_path))
    rec.start(now=1.0)
    feed(rec, 1.0, 1)
    assert rec.silent_streams(now=1.5, after_s=2.0) == {}
    feed(rec, 1.5, 2, image=False)                     # the camera stops
    assert rec.silent_streams(now=3.5, after_s=2.0) == {"image_center": pytest.approx(2.5)}
    assert rec.silent_streams(now=4.0, after_s=2.0).keys() == {"image_center", "state",
                                                               "action"}
    assert rec.counts["image_center_silent"] == 1 and rec.counts["state_silent"] == 1
    feed(rec, 4.1, 3)                                  # back ...
    assert rec.silent_streams(now=4.2, after_s=2.0) == {}
    feed(rec, 4.3, 4, image=False)
    rec.silent_streams(now=6.5, after_s=2.0)           # ... and silent again: counted again
    assert rec.counts["image_center_silent"] == 2
    assert rec.add("state", 6.6, [np.inf, 0]).kind == "nonfinite"
    assert rec.add("state", 6.0, [0, 0]).kind == "stamp_backwards"


def test_goal_streams_are_recorded_aligned_and_checked_like_the_state(tmp_path):
    rec = Recorder(config(tmp_path, goal_topic="goal", achieved_goal_topic="achieved_goal"))
    assert rec.streams[-2:] == ["goal", "achieved_goal"]
    rec.start(now=0.1)
    problem = None
    for k in range(1, 4):
        feed(rec, k * 0.1, k)
        rec.add("goal", k * 0.1, [0.5, 0.1, float("nan") if k == 3 else 0.2])
        rec.add("achieved_goal", k * 0.1, [0.3 + 0.01 * k, 0.0, 0.1])
        problem = rec.add("goal", k * 0.1 + 0.01, [0.5, 0.1]) or problem   # wrong size
        rec.update(now=k * 0.1)
    rec.stop(now=0.3, success=True)
    assert problem.kind == "size" and "expected 3" in problem
    data = EpisodeStore(str(tmp_path / "ds")).read(0)
    np.testing.assert_allclose(data["goal"][0], [0.5, 0.1, 0.2])
    np.testing.assert_allclose(data["achieved_goal"][:, 0], [0.31, 0.32, 0.33], atol=1e-6)
    goal = rec.streams.index("goal")
    assert data["flags"][2, goal] == BAD_VALUE and not data["flags"][:2].any()
    assert rec.counts["goal_nonfinite"] == 1 and rec.counts["goal_wrong_size"] == 3


def test_one_state_stamped_by_a_wrong_clock_does_not_silence_the_stream(tmp_path):
    """Found by the aligner's property tests: one stamp far in the future made every later
    sample of the stream stamp_backwards, for the rest of the run."""
    rec = Recorder(config(tmp_path))
    rec.start(now=0.1)
    feed(rec, 0.1, 1)
    assert rec.add("state", 1.7e9, [9, 9]) is None       # a driver's one bad stamp: accepted...
    feed(rec, 0.2, 2)                                     # ... then the stream starts over
    assert rec.counts["state_clock_restart"] == 1 and rec.counts["state_stamp_backwards"] == 0
    for k in range(3, 6):
        feed(rec, 0.1 * k, k)
        rec.update(now=0.1 * k)
    assert rec.add("state", float("nan"), [0, 0]).kind == "nonfinite_stamp"
    rec.stop(now=0.5, success=True)
    data = EpisodeStore(str(tmp_path / "ds")).read(0)
    state = rec.config.streams.index("state")
    assert not data["flags"][1:, state].any() and data["state"][4].tolist() == [5, -5]
