"""policy_node's /diagnostics figures without ROS: achieved rates over a window of ticks, inference
mean and p99 over the last inferences, every count, and the level and message they add up to."""

import numpy as np
import pytest

from bc_ros.nodes.policy.diagnostics import (COUNTS, OK, RATE_WINDOW_S, TIMING_WINDOW, WARN,
                                             PolicyStats, diagnostics_values, rate, summary)

NODE = {"mode": "realtime", "checkpoint": "a.pt", "head": "mog", "backend": "torch",
        "cpu_dma_latency": "untouched", "enabled": True, "watchdog": "ok", "stale_streams": [],
        "rate_target_hz": 10.0}


def values(stats=None, **node):
    return diagnostics_values((stats or PolicyStats()).snapshot(), **dict(NODE, **node))


def test_rate_is_events_per_second_between_the_first_and_the_last():
    assert rate([]) == 0.0 and rate([1.0]) == 0.0 and rate([1.0, 1.0]) == 0.0
    assert rate([1.0, 1.1, 1.2, 1.3, 1.4, 1.5]) == pytest.approx(10.0)


def test_rates_are_measured_over_the_last_window_of_ticks():
    stats = PolicyStats()
    for k in range(1, 101):                         # 10 Hz for 10 s, then 20 Hz for 3 s
        stats.record_tick(k / 10)
    for k in range(1, 61):
        stats.record_tick(10.0 + k / 20)
    for k in range(1, 51):                          # commands at 5 Hz
        stats.record_command(k / 5)
    snap = stats.snapshot()
    assert snap.tick_times[0] >= 13.0 - RATE_WINDOW_S
    figures = snap.figures()
    assert figures["rate_hz"] == pytest.approx(20.0)
    assert figures["command_rate_hz"] == pytest.approx(5.0)


def test_a_clock_restart_forgets_the_ticks_of_the_old_clock():
    stats = PolicyStats()
    for t in (50.0, 50.1, 50.2, 1.0):
        stats.record_tick(t)
    assert stats.snapshot().tick_times == [1.0]


def test_inference_times_are_the_last_window_of_them():
    stats = PolicyStats()
    for ms in range(1, TIMING_WINDOW + 201):
        stats.record_inference(float(ms))
    kept = np.arange(201, TIMING_WINDOW + 201, dtype=np.float64)
    figures = stats.snapshot().figures()
    assert figures["inference_ms_mean"] == pytest.approx(kept.mean())
    assert figures["inference_ms_p99"] == pytest.approx(round(np.percentile(kept, 99), 3))


def test_every_count_is_listed_in_order_and_zero_when_untouched():
    stats = PolicyStats()
    stats.counts["stop_commands"] += 3
    d = values(stats)
    assert list(d) == (["mode", "checkpoint", "head", "backend", "cpu_dma_latency", "enabled",
                        "watchdog", "stale_streams", "rate_target_hz", "rate_hz",
                        "command_rate_hz", "inference_ms_mean", "inference_ms_p99"]
                       + list(COUNTS))
    assert d["stop_commands"] == 3 and d["ticks"] == 0 and d["inference_ms_p99"] == 0.0


def test_problems_per_source_follow_the_counts_so_one_does_not_hide_another():
    stats = PolicyStats()
    stats.counts["bad_messages"] += 3
    stats.counts["image_right/data_length"] += 1
    stats.counts["image_left/encoding"] += 2
    d = values(stats)
    assert list(d)[-2:] == ["image_left/encoding", "image_right/data_length"]
    assert d["image_left/encoding"] == 2 and d["bad_messages"] == 3


def test_lockstep_reports_no_watchdog_and_no_target_rate():
    d = values(mode="lockstep", watchdog="missing")
    assert d["watchdog"] == "off (lockstep)" and d["rate_target_hz"] == 0.0
    d = values(watchdog="stale", stale_streams=["camera/left/image_raw", "odom"])
    assert d["watchdog"] == "stale" and d["stale_streams"] == "camera/left/image_raw,odom"


def test_the_status_warns_while_stopped_by_the_watchdog_or_once_inference_overran():
    assert summary(values()) == (OK, "running")
    assert summary(values(enabled=False, watchdog="stale")) == (OK, "disabled")
    assert summary(values(watchdog="missing", stale_streams=["odom"])) == (
        WARN, "watchdog: missing odom; sending stop commands")
    assert summary(values(mode="lockstep", watchdog="missing")) == (OK, "running")
    stats = PolicyStats()
    stats.counts["ticks_skipped"] = 2
    assert summary(values(stats)) == (
        WARN, "running; inference over budget 0 times, 2 ticks skipped")
