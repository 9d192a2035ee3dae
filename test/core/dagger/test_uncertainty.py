"""Ensemble disagreement, threshold calibration to a target request rate, the request gate."""

import numpy as np
import pytest

from bc_ros.core.dagger.uncertainty import (UncertaintyGate, action_distance,
                                            calibrate_threshold, ensemble_disagreement,
                                            request_rate)


def test_disagreement_is_mean_over_dims_of_member_std_over_scale():
    members = [[0.0, 0.0], [2.0, 4.0]]                  # std per dim: [1, 2]
    assert ensemble_disagreement(members) == pytest.approx(1.5)
    assert ensemble_disagreement(members, scale=[1.0, 2.0]) == pytest.approx(1.0)
    assert ensemble_disagreement(members, scale=2.0) == pytest.approx(0.75)
    assert ensemble_disagreement([[0.3, -1.0]] * 5) == 0.0


def test_disagreement_of_a_batch_has_one_score_per_observation():
    rng = np.random.default_rng(0)
    actions = rng.normal(size=(5, 7, 3))                # (M, B, D)
    scores = ensemble_disagreement(actions)
    assert scores.shape == (7,)
    assert scores[4] == pytest.approx(ensemble_disagreement(actions[:, 4]))


@pytest.mark.parametrize("actions, scale, match", [
    ([[1.0, 2.0]], None, "members>=2"),
    ([1.0, 2.0], None, "members>=2"),
    ([[0.0, np.nan], [0.0, 1.0]], None, "non-finite"),
    ([[0.0, 0.0], [1.0, 1.0]], [1.0, 0.0], "scale must be finite and > 0"),
    ([[0.0, 0.0], [1.0, 1.0]], [1.0, 1.0, 1.0], "one value per action dim"),
])
def test_disagreement_rejects_bad_input(actions, scale, match):
    with pytest.raises(ValueError, match=match):
        ensemble_disagreement(actions, scale)


def test_action_distance_is_scaled_rms():
    assert action_distance([1.0, 0.0], [0.0, 0.0]) == pytest.approx(np.sqrt(0.5))
    assert action_distance([2.0, 4.0], [0.0, 0.0], [2.0, 4.0]) == pytest.approx(1.0)


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.2])
def test_calibrated_threshold_hits_the_target_rate_on_held_out_and_fresh_scores(rate):
    rng = np.random.default_rng(1)
    held_out = rng.lognormal(mean=-1.0, sigma=0.8, size=10_000)
    threshold = calibrate_threshold(held_out, rate)
    assert request_rate(held_out, threshold) == pytest.approx(rate, abs=1e-12)
    fresh = rng.lognormal(mean=-1.0, sigma=0.8, size=10_000)
    assert abs(request_rate(fresh, threshold) - rate) <= 0.01


def test_calibration_with_ties_never_exceeds_the_target():
    scores = np.repeat([0.1, 0.2, 0.3, 0.4], 250)       # 1000 scores, heavy ties
    threshold = calibrate_threshold(scores, 0.3)
    assert request_rate(scores, threshold) == pytest.approx(0.25)


@pytest.mark.parametrize("scores, rate, match", [
    (np.ones(100), 0.0, "target_rate must be in"),
    (np.ones(100), 1.0, "target_rate must be in"),
    (np.ones(100), float("nan"), "target_rate must be in"),
    ([], 0.1, "non-empty 1-D"),
    (np.ones((10, 10)), 0.1, "non-empty 1-D"),
    ([0.1, np.inf, 0.3], 0.5, "finite"),
    (np.ones(40), 0.01, "too few"),
])
def test_calibration_rejects_bad_input(scores, rate, match):
    with pytest.raises(ValueError, match=match):
        calibrate_threshold(scores, rate)


def _gate_run(gate, scores, agree):
    """Feed scores; ``agree[k]`` says whether expert and policy agree at tick k."""
    out = []
    for score, ok in zip(scores, agree):
        policy = np.zeros(2)
        expert = np.zeros(2) if ok else np.ones(2)
        out.append(gate.update(score, expert, policy))
    return out


def test_gate_requests_above_threshold_and_hands_back_after_agreement():
    gate = UncertaintyGate(0.5, agree_tol=0.1, agree_ticks=3)
    scores = [0.1, 0.2, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    agree = [True, True, True, False, True, True, True, True, True, True]
    steps = _gate_run(gate, scores, agree)
    # request at tick 2; tick 3 disagrees; agreement first seen at tick 4 -> policy back at 4 + 3
    assert [s.requesting for s in steps] == [False, False, True, True, True, True, True,
                                             False, False, False]
    assert [s.event for s in steps] == [None, None, "request", None, None, None, None,
                                        "handback", None, None]
    assert steps[3].distance == pytest.approx(1.0) and steps[4].distance == 0.0
    assert gate.requests == 1


def test_gate_keeps_the_expert_when_the_handback_tick_is_uncertain_again():
    gate = UncertaintyGate(0.5, agree_tol=0.1, agree_ticks=2)
    steps = _gate_run(gate, [0.9, 0.1, 0.1, 0.9, 0.1], [True] * 5)
    assert [s.requesting for s in steps] == [True, True, True, True, True]
    assert [s.event for s in steps] == ["request", None, None, None, None]
    assert gate.requests == 1


def test_gate_missing_commands_break_agreement_and_missing_score_never_requests():
    gate = UncertaintyGate(0.5, agree_tol=0.1, agree_ticks=2)
    assert not gate.update(None).requesting
    assert gate.update(0.6).event == "request"
    gate.update(0.0, np.zeros(2), np.zeros(2))
    gate.update(0.0, None, np.zeros(2))           # stale expert: agreement restarts
    assert gate.agree_count == 0
    gate.update(0.0, np.zeros(2), np.zeros(2))
    gate.update(0.0, np.zeros(2), np.zeros(2))
    assert gate.update(0.0).event == "handback"


@pytest.mark.parametrize("kwargs, match", [
    (dict(threshold=float("inf"), agree_tol=0.1, agree_ticks=1), "threshold=inf"),
    (dict(threshold=0.5, agree_tol=0.0, agree_ticks=1), "agree_tol=0.0"),
    (dict(threshold=0.5, agree_tol=0.1, agree_ticks=0), "agree_ticks=0"),
])
def test_gate_validation_shows_the_value(kwargs, match):
    threshold = kwargs.pop("threshold")
    with pytest.raises(ValueError, match=match):
        UncertaintyGate(threshold, **kwargs)
