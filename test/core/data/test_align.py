"""Stream alignment with synthetic stamps: jitter, skew, a late stream, a missing stream."""

import numpy as np
import pytest

from bc_ros.core.data.align import StreamAligner


def test_latest_sample_at_or_before_the_tick_with_its_stamp_and_skew():
    a = StreamAligner({"cam": 0.05, "state": 0.02})
    for k in range(1, 11):
        a.add("cam", k / 30, f"img{k}")           # 30 Hz camera
    for k in range(1, 31):
        a.add("state", k / 100, k)                # 100 Hz state
    tick = a.sample(0.2)
    assert tick.complete
    assert tick.values == {"cam": "img6", "state": 20}
    assert tick.stamps["cam"] == pytest.approx(0.2)
    assert tick.skew["state"] == pytest.approx(0.0)
    tick = a.sample(0.215)
    assert tick.values["cam"] == "img6" and tick.skew["cam"] == pytest.approx(0.015)


def test_jittered_stamps_still_pick_the_right_sample():
    rng = np.random.default_rng(0)
    a = StreamAligner({"cam": 0.05}, horizon=5.0)
    stamps = np.arange(1, 101) / 30 + rng.uniform(-0.004, 0.004, 100)
    for i, s in enumerate(stamps):
        a.add("cam", s, i)
    for t in np.arange(0.5, 3.0, 0.1):
        expected = int(np.searchsorted(stamps, t, side="right") - 1)
        assert a.sample(t).values["cam"] == expected


def test_a_late_stream_is_stale_and_a_silent_one_is_missing():
    a = StreamAligner({"cam": 0.05, "state": 0.05, "cmd": 0.2})
    a.add("cam", 1.0, "img")
    a.add("state", 0.8, "old")  # lags 200 ms behind
    tick = a.sample(1.0)
    assert not tick.complete
    assert tick.stale == ["state"] and tick.missing == ["cmd"]
    assert tick.values["state"] is None and tick.stamps["state"] == 0.8
    assert tick.skew["state"] == pytest.approx(0.2)


def test_a_sample_stamped_after_the_tick_is_not_used():
    a = StreamAligner({"cam": 0.1})
    a.add("cam", 1.05, "future")
    assert a.sample(1.0).missing == ["cam"]


def test_backwards_and_zero_stamps_are_rejected_and_counted():
    a = StreamAligner({"cam": 0.1})
    assert a.add("cam", 1.0, "a")
    assert not a.add("cam", 0.9, "b")
    assert not a.add("cam", 0.0, "c")
    assert a.rejected[("cam", "stamp_backwards")] == 1
    assert a.rejected[("cam", "zero_stamp")] == 1
    assert a.sample(1.0).values["cam"] == "a"


def test_old_samples_are_dropped_beyond_the_horizon():
    a = StreamAligner({"cam": 0.1}, horizon=1.0)
    for k in range(1, 301):
        a.add("cam", k / 100, k)
    assert len(a._stamps["cam"]) <= 101
    assert a.sample(1.0).missing == ["cam"]  # 1.0 s is now beyond the kept history


def test_bad_settings_are_explained():
    with pytest.raises(ValueError, match="tolerance of stream 'cam'"):
        StreamAligner({"cam": 0.0})
    with pytest.raises(ValueError, match="horizon must exceed"):
        StreamAligner({"cam": 1.0}, horizon=0.5)
    with pytest.raises(KeyError, match="unknown stream 'x'"):
        StreamAligner({"cam": 0.1}).add("x", 1.0, 0)
