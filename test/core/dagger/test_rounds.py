"""Round metrics: aggregation from per-episode mux stats, validation, atomic JSON log."""

import json
import os

import pytest

from bc_ros.core.dagger import rounds as rounds_module
from bc_ros.core.dagger.mux import MuxStats
from bc_ros.core.dagger.rounds import RoundLog, RoundMetrics


def metrics(round_num=0, **kw):
    values = dict(round=round_num, episodes=4, success_rate=0.5, expert_labels_added=120,
                  interventions_per_episode=1.5, requests_per_episode=0.0,
                  autonomous_fraction=0.8, context_switches=12, dataset_size=5000,
                  wall_time_s=61.5)
    values.update(kw)
    return RoundMetrics(**values)


def test_from_episodes_aggregates_mux_stats():
    episodes = [MuxStats(ticks=100, autonomous_ticks=90, labels=10, interventions=1,
                         context_switches=2),
                MuxStats(ticks=300, autonomous_ticks=210, labels=80, interventions=2,
                         requests=3, context_switches=9)]
    m = RoundMetrics.from_episodes(2, episodes, [True, False], dataset_size=1234,
                                   wall_time_s=10.0, beta=0.25, mode="beta")
    assert (m.round, m.episodes, m.success_rate) == (2, 2, 0.5)
    assert (m.expert_labels_added, m.context_switches, m.dataset_size) == (90, 11, 1234)
    assert m.interventions_per_episode == 1.5 and m.requests_per_episode == 1.5
    assert m.autonomous_fraction == pytest.approx(300 / 400)     # tick-weighted
    assert (m.beta, m.mode) == (0.25, "beta")
    assert m.threshold is None and m.request_rate is None      # nothing scored
    scored = [MuxStats(ticks=50, autonomous_ticks=40, scored_ticks=50, uncertain_ticks=5),
              MuxStats(ticks=150, autonomous_ticks=120, scored_ticks=150, uncertain_ticks=25)]
    u = RoundMetrics.from_episodes(1, scored, [True, True], dataset_size=10, wall_time_s=1.0,
                                   mode="uncertainty", threshold=0.12)
    assert (u.threshold, u.request_rate) == (0.12, pytest.approx(30 / 200))
    with pytest.raises(ValueError, match="one success flag per episode"):
        RoundMetrics.from_episodes(0, episodes, [True], dataset_size=1, wall_time_s=1.0)


@pytest.mark.parametrize("kw, match", [
    (dict(episodes=-1), "self.episodes=-1"),
    (dict(success_rate=1.2), "success_rate=1.2"),
    (dict(autonomous_fraction=-0.1), "autonomous_fraction=-0.1"),
    (dict(dataset_size=-1), "dataset_size=-1"),
    (dict(wall_time_s=float("nan")), "wall_time_s=nan"),
    (dict(beta=2.0), "self.beta=2.0"),
    (dict(threshold=float("inf")), "self.threshold=inf"),
    (dict(request_rate=1.5), "self.request_rate=1.5"),
])
def test_invalid_metrics_show_the_value(kw, match):
    with pytest.raises(ValueError, match=match):
        metrics(**kw)


def test_round_log_round_trip(tmp_path):
    path = tmp_path / "rounds.json"
    log = RoundLog(path)
    assert log.rounds == []
    log.append(metrics(0))
    log.append(metrics(1, beta=0.5, success_rate=0.75))
    assert RoundLog(path).rounds == log.rounds == RoundLog.read(path)
    assert json.loads(path.read_text())["rounds"][1]["success_rate"] == 0.75
    assert os.listdir(tmp_path) == ["rounds.json"]              # no temp file left behind
    reopened = RoundLog(path)
    reopened.append(metrics(2))
    assert [r.round for r in RoundLog(path).rounds] == [0, 1, 2]


def test_round_numbers_must_increase(tmp_path):
    log = RoundLog(tmp_path / "rounds.json")
    log.append(metrics(3))
    with pytest.raises(ValueError, match="last is 3"):
        log.append(metrics(3))


def test_a_failed_write_leaves_the_previous_log_intact(tmp_path, monkeypatch):
    path = tmp_path / "rounds.json"
    log = RoundLog(path)
    log.append(metrics(0))
    before = path.read_text()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(rounds_module.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        log.append(metrics(1))
    assert path.read_text() == before and os.listdir(tmp_path) == ["rounds.json"]
    assert [r.round for r in log.rounds] == [0]


def test_reading_rejects_foreign_files_and_unknown_keys(tmp_path):
    path = tmp_path / "rounds.json"
    path.write_text(json.dumps({"rounds": []}))
    with pytest.raises(ValueError, match="not a DAgger round log"):
        RoundLog(path)
    row = dict(vars(metrics(0)), surprise=1)
    path.write_text(json.dumps({"format": "bc_ros.dagger.rounds", "version": 1,
                                "rounds": [row]}))
    with pytest.raises(ValueError, match=r"unknown RoundMetrics keys \['surprise'\]"):
        RoundLog(path)
