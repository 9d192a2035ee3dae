"""Command mux: override priority and latency in ticks, hand-back hysteresis and blend, stale-input
stop, beta mixing with a seeded rng, robot-gated requests, and agreement with labels.py."""

import dataclasses
import re

import numpy as np
import pytest

from bc_ros.core.dagger.labels import hg_dagger_mask, summarize_episode
from bc_ros.core.dagger.mux import CommandMux, MuxConfig, MuxStats

DT = 0.05                                   # 20 Hz control ticks at t_k = k * DT
POLICY = np.array([1.0, 0.0, 0.0, 0.0])
STOP = np.zeros(4)


def expert_cmd(k):
    """A different expert command every tick, so the tests can tell which one executed."""
    return np.array([0.0, 2.0, 0.0, float(k)])


def run(mux, n, *, engaged=lambda k: None, policy_on=lambda k: True, expert_on=lambda k: True,
        score=lambda k: None, policy=lambda k: POLICY, start=0):
    """Act as the node: every input published between tick k-1 and tick k arrives (and is
    stamped) at t_k - DT/2; tick k sees the latest of each."""
    latest, out = {}, []
    for k in range(start, start + n):
        now, arrival = k * DT, k * DT - DT / 2
        if policy_on(k):
            latest.update(policy_cmd=policy(k), policy_stamp=arrival)
        if expert_on(k):
            latest.update(expert_cmd=expert_cmd(k), expert_stamp=arrival)
        if engaged(k) is not None:
            latest.update(engaged=engaged(k), engaged_stamp=arrival)
        out.append(mux.tick(now, score=score(k), **latest))
    return out


def sources(decisions):
    return [d.source for d in decisions]


def policy_leaks(decisions):
    """Ticks that executed the policy's command (or a blend containing it)."""
    return sum(d.source in ("policy", "blend") or np.array_equal(d.command, POLICY)
               for d in decisions)


def engaged_between(first, last):
    return lambda k: first <= k < last


# -- human override: priority and latency ------------------------------------------------------

def test_flag_arriving_before_tick_5_governs_tick_5_and_no_policy_command_leaks():
    mux = CommandMux(MuxConfig(handback_ticks=3))
    d = run(mux, 30, engaged=engaged_between(5, 20))
    assert sources(d[:5]) == ["policy"] * 5
    assert sources(d[5:20]) == ["expert"] * 15
    assert d[5].event == "takeover" and d[5].cause == "human" and d[5].control == "expert"
    assert [k for k, x in enumerate(d) if x.event] == [5, 23]
    assert policy_leaks(d[5:20]) == 0
    for k in range(5, 20):
        np.testing.assert_array_equal(d[k].command, expert_cmd(k))
        assert d[k].record_label and np.array_equal(d[k].label, expert_cmd(k))
    assert not any(x.record_label for x in d[:5] + d[20:])
    assert mux.stats.interventions == 1 and mux.stats.labels == 15


@pytest.mark.parametrize("arrival", [5 * DT - 1e-3, 5 * DT])
def test_override_latency_is_at_most_one_tick(arrival):
    """A flag received just before tick 5, or stamped at tick 5 itself, applies at tick 5."""
    mux = CommandMux(MuxConfig())
    kw = dict(policy_cmd=POLICY, expert_cmd=expert_cmd(0))
    for k in range(5):
        assert mux.tick(k * DT, policy_stamp=k * DT, expert_stamp=k * DT, engaged=False,
                        engaged_stamp=k * DT, **kw).source == "policy"
    d = mux.tick(5 * DT, policy_stamp=5 * DT, expert_stamp=5 * DT, engaged=True,
                 engaged_stamp=arrival, **kw)
    assert d.source == "expert" and d.event == "takeover"


def test_expert_engaged_from_the_first_tick_is_a_takeover():
    mux = CommandMux(MuxConfig())
    d = run(mux, 3, engaged=lambda k: True)
    assert sources(d) == ["expert"] * 3 and d[0].event == "takeover"
    assert mux.stats.context_switches == 1


# -- hand-back ----------------------------------------------------------------------------------

def test_handback_after_hysteresis_of_3_ticks_is_back_at_tick_23():
    mux = CommandMux(MuxConfig(handback_ticks=3))
    d = run(mux, 30, engaged=engaged_between(5, 20))
    assert sources(d[20:23]) == ["hold"] * 3
    for k in (20, 21, 22):
        np.testing.assert_array_equal(d[k].command, expert_cmd(k))   # the expert's, unlabelled
        assert not d[k].record_label and not d[k].engaged and d[k].control == "expert"
    assert sources(d[23:]) == ["policy"] * 7
    assert d[23].event == "handback" and d[23].cause == "human" and d[23].control == "policy"
    s = mux.stats
    assert (s.interventions, s.handbacks, s.context_switches) == (1, 1, 2)
    assert (s.autonomous_ticks, s.expert_ticks, s.hold_ticks) == (12, 15, 3)
    assert s.autonomous_fraction == pytest.approx(12 / 30)


def test_reengaging_during_the_hold_cancels_the_handback_without_a_new_intervention():
    mux = CommandMux(MuxConfig(handback_ticks=3))
    d = run(mux, 30, engaged=lambda k: 5 <= k < 20 or 21 <= k < 25)
    assert sources(d[19:22]) == ["expert", "hold", "expert"]
    assert sources(d[25:28]) == ["hold"] * 3 and sources(d[28:]) == ["policy"] * 2
    assert [k for k, x in enumerate(d) if x.event] == [5, 28]
    assert mux.stats.interventions == 1 and mux.stats.context_switches == 2


@pytest.mark.parametrize("ticks, seconds, back", [(0, 0.0, 20), (3, 0.0, 23), (0, 0.15, 23),
                                                  (1, 0.15, 23), (5, 0.1, 25)])
def test_hysteresis_in_ticks_and_seconds(ticks, seconds, back):
    mux = CommandMux(MuxConfig(handback_ticks=ticks, handback_seconds=seconds))
    d = run(mux, 30, engaged=engaged_between(5, 20))
    assert sources(d[20:back]) == ["hold"] * (back - 20)
    assert d[back].source == "policy" and d[back].event == "handback"


def test_blend_ramps_linearly_from_the_last_executed_command_to_the_policy():
    mux = CommandMux(MuxConfig(handback_ticks=3, blend_ticks=3))
    d = run(mux, 30, engaged=engaged_between(5, 20))
    assert sources(d[23:27]) == ["blend", "blend", "blend", "policy"]
    assert d[23].event == "handback"
    last = expert_cmd(22)                        # the last command executed before hand-back
    for j, k in enumerate((23, 24, 25), start=1):
        w = j / 4
        np.testing.assert_allclose(d[k].command, (1 - w) * last + w * POLICY)
        assert not d[k].record_label
    assert mux.stats.blend_ticks == 3 and mux.stats.autonomous_ticks == 5 + 4


def test_takeover_during_a_blend_is_a_new_intervention():
    mux = CommandMux(MuxConfig(handback_ticks=0, blend_ticks=5))
    d = run(mux, 20, engaged=lambda k: 5 <= k < 10 or k >= 12)
    assert sources(d[10:14]) == ["blend", "blend", "expert", "expert"]
    assert mux.stats.interventions == 2 and mux.stats.context_switches == 3


# -- stale inputs -------------------------------------------------------------------------------

def test_engaged_expert_going_silent_stops_the_robot_with_a_reason():
    mux = CommandMux(MuxConfig(expert_timeout=0.1))
    # the last expert command (tick 9's) arrives at 8.5 DT: 0.075 s old at tick 10, 0.125 s at 11
    d = run(mux, 20, engaged=engaged_between(5, 30), expert_on=lambda k: k < 10 or k >= 15)
    assert sources(d[5:11]) == ["expert"] * 6
    np.testing.assert_array_equal(d[10].command, expert_cmd(9))   # the latest fresh one
    assert sources(d[11:15]) == ["stop"] * 4
    for x in d[11:15]:
        assert x.stop_reason == "expert_stale" and "old" in x.detail
        np.testing.assert_array_equal(x.command, STOP)
        assert not x.record_label and x.control == "expert"
    assert sources(d[15:]) == ["expert"] * 5
    assert policy_leaks(d[5:]) == 0
    assert mux.stats.stop_reasons == {"expert_stale": 4} and mux.stats.interventions == 1


def test_engaged_flag_going_silent_while_true_stops_until_a_fresh_flag():
    mux = CommandMux(MuxConfig(engaged_timeout=0.1, handback_ticks=3))
    d = run(mux, 30, engaged=lambda k: True if 5 <= k < 10 else (False if k >= 20 else None))
    assert sources(d[5:11]) == ["expert"] * 6
    assert sources(d[11:20]) == ["stop"] * 9
    assert {x.stop_reason for x in d[11:20]} == {"engaged_stale"}
    assert sources(d[20:23]) == ["hold"] * 3 and d[23].event == "handback"
    assert policy_leaks(d[5:23]) == 0


def test_a_flag_already_stale_does_not_start_an_intervention():
    mux = CommandMux(MuxConfig(engaged_timeout=0.1))
    d = mux.tick(1.0, policy_cmd=POLICY, policy_stamp=1.0, engaged=True, engaged_stamp=0.5)
    assert d.source == "policy" and d.event is None


def test_policy_going_silent_stops_the_robot():
    mux = CommandMux(MuxConfig(policy_timeout=0.1))
    d = run(mux, 15, policy_on=lambda k: k < 10)
    assert sources(d[:11]) == ["policy"] * 11
    assert sources(d[11:]) == ["stop"] * 4
    assert {x.stop_reason for x in d[11:]} == {"policy_stale"}
    first = CommandMux(MuxConfig()).tick(0.0)
    assert first.source == "stop" and first.detail == "no policy command received yet"


@pytest.mark.parametrize("bad, detail", [([np.nan, 0, 0, 0], "not finite"),
                                         ([1.0, 0.0], "has 2 values, expected 4")])
def test_invalid_commands_are_never_executed(bad, detail):
    mux = CommandMux(MuxConfig())
    d = mux.tick(0.0, policy_cmd=bad, policy_stamp=0.0)
    assert d.source == "stop" and d.stop_reason == "policy_invalid" and detail in d.detail
    d = mux.tick(0.1, policy_cmd=POLICY, policy_stamp=0.1, expert_cmd=bad, expert_stamp=0.1,
                 engaged=True, engaged_stamp=0.1)
    assert d.source == "stop" and d.stop_reason == "expert_invalid"


def test_commands_without_stamps_are_a_programming_error():
    mux = CommandMux(MuxConfig())
    with pytest.raises(ValueError, match="policy_cmd needs policy_stamp"):
        mux.tick(0.0, policy_cmd=POLICY)
    with pytest.raises(ValueError, match="engaged needs engaged_stamp"):
        mux.tick(0.0, engaged=True)


@pytest.mark.parametrize("ticks, expected", [
    (0, ["expert"] * 11 + ["policy"] * 4),
    (2, ["expert"] * 11 + ["stop", "stop"] + ["policy"] * 2),
])
def test_any_fresh_expert_command_engages_and_silence_releases(ticks, expected):
    mux = CommandMux(MuxConfig(engage_source="any_fresh_expert_command", expert_timeout=0.1,
                               handback_ticks=ticks))
    d = run(mux, 20, expert_on=engaged_between(5, 15))
    assert sources(d[:5]) == ["policy"] * 5
    assert sources(d[5:20]) == expected       # fresh until tick 15, released at tick 16
    assert d[5].event == "takeover" and d[16 + ticks].event == "handback"


# -- beta mode ----------------------------------------------------------------------------------

def test_beta_mode_needs_an_rng_and_a_beta():
    with pytest.raises(ValueError, match="pass rng"):
        CommandMux(MuxConfig(mode="beta"))
    mux = CommandMux(MuxConfig(mode="beta"), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"start_episode\(beta=...\)"):
        mux.tick(0.0)
    with pytest.raises(ValueError, match="beta=1.5"):
        mux.start_episode(beta=1.5)
    with pytest.raises(ValueError, match="only used in beta mode"):
        CommandMux(MuxConfig()).start_episode(beta=0.5)


@pytest.mark.parametrize("beta, source", [(1.0, "expert"), (0.0, "policy")])
def test_beta_extremes_execute_one_source_and_label_every_tick(beta, source):
    mux = CommandMux(MuxConfig(mode="beta"), rng=np.random.default_rng(0))
    mux.start_episode(beta=beta)
    d = run(mux, 50)
    assert sources(d) == [source] * 50
    assert all(x.record_label and np.array_equal(x.label, expert_cmd(k))
               for k, x in enumerate(d))
    assert mux.stats.labels == 50 and mux.stats.interventions == 0


def test_beta_per_tick_draws_follow_the_rng_exactly():
    n, beta = 2000, 0.3
    mux = CommandMux(MuxConfig(mode="beta"), rng=np.random.default_rng(7))
    mux.start_episode(beta=beta)
    d = run(mux, n)
    expected = np.random.default_rng(7).random(n) < beta
    assert [x.source == "expert" for x in d] == expected.tolist()
    assert abs(expected.mean() - beta) < 0.03
    switches = int(np.sum(np.diff(np.concatenate([[False], expected])) != 0))
    assert mux.stats.context_switches == switches
    assert mux.stats.labels == n and mux.stats.autonomous_ticks == n - expected.sum()


def test_beta_per_episode_draw_fixes_the_source_for_the_whole_episode():
    mux = CommandMux(MuxConfig(mode="beta", beta_draw="episode"), rng=np.random.default_rng(3))
    replica = np.random.default_rng(3)
    picks = []
    for episode in range(100):
        mux.start_episode(beta=0.6)
        d = run(mux, 10, start=episode * 10)
        assert len(set(sources(d))) == 1
        picks.append(d[0].source == "expert")
    assert picks == (replica.random(100) < 0.6).tolist()


def test_beta_mode_stops_when_the_drawn_source_is_stale_and_labels_only_fresh_expert():
    mux = CommandMux(MuxConfig(mode="beta", expert_timeout=0.1), rng=np.random.default_rng(0))
    mux.start_episode(beta=1.0)
    d = run(mux, 15, expert_on=lambda k: k < 10)
    assert sources(d[11:]) == ["stop"] * 4 and d[11].stop_reason == "expert_stale"
    assert [x.record_label for x in d] == [True] * 11 + [False] * 4


def test_beta_mode_is_reproducible_with_the_same_seed():
    def once():
        mux = CommandMux(MuxConfig(mode="beta"), rng=np.random.default_rng(11))
        mux.start_episode(beta=0.5)
        return sources(run(mux, 200))
    assert once() == once()


def test_human_override_wins_in_beta_mode():
    mux = CommandMux(MuxConfig(mode="beta"), rng=np.random.default_rng(0))
    mux.start_episode(beta=0.0)
    d = run(mux, 30, engaged=engaged_between(5, 20))
    assert sources(d[5:23]) == ["expert"] * 15 + ["hold"] * 3
    assert mux.stats.interventions == 1
    off = CommandMux(MuxConfig(mode="beta", human_override=False), rng=np.random.default_rng(0))
    off.start_episode(beta=0.0)
    assert sources(run(off, 30, engaged=engaged_between(5, 20))) == ["policy"] * 30


# -- uncertainty mode ---------------------------------------------------------------------------

def uncertain_config(**kw):
    return MuxConfig(mode="uncertainty", uncertainty_threshold=0.5, agree_tol=0.1,
                     agree_ticks=3, **kw)


def test_robot_requests_help_and_hands_back_after_agreement():
    mux = CommandMux(uncertain_config())
    # policy agrees with the expert from tick 8 on
    d = run(mux, 20, score=lambda k: 0.9 if k == 5 else 0.1,
            policy=lambda k: expert_cmd(k) if k >= 8 else POLICY)
    assert sources(d[:5]) == ["policy"] * 5
    assert d[5].event == "takeover" and d[5].cause == "request"
    assert sources(d[5:11]) == ["expert"] * 6          # agreement at 8, 9, 10 -> back at 11
    assert d[11].event == "handback" and d[11].cause == "request"
    assert sources(d[11:]) == ["policy"] * 9
    assert [k for k, x in enumerate(d) if x.record_label] == list(range(5, 11))
    s = mux.stats
    assert (s.requests, s.interventions, s.handbacks, s.context_switches) == (1, 0, 1, 2)


def test_score_of_a_stale_policy_never_requests():
    mux = CommandMux(uncertain_config(policy_timeout=0.1))
    d = run(mux, 15, score=lambda k: 0.9 if k >= 12 else 0.1, policy_on=lambda k: k < 10)
    assert sources(d[12:]) == ["stop"] * 3 and mux.stats.requests == 0


def test_human_override_in_uncertainty_mode_counts_as_an_intervention():
    mux = CommandMux(uncertain_config(handback_ticks=0))
    d = run(mux, 12, engaged=engaged_between(3, 6), score=lambda k: 0.1)
    assert sources(d) == ["policy"] * 3 + ["expert"] * 3 + ["policy"] * 6
    assert (mux.stats.interventions, mux.stats.requests) == (1, 0)


def test_scored_ticks_count_the_achieved_request_rate_and_nan_never_requests():
    mux = CommandMux(uncertain_config())
    # no score at ticks 0-1, NaN (the policy had none) at 2-3, 0.1 at 4-7, 0.9 at 8-9
    scores = [None, None, float("nan"), float("nan"), 0.1, 0.1, 0.1, 0.1, 0.9, 0.9]
    d = run(mux, 10, score=lambda k: scores[k])
    assert sources(d) == ["policy"] * 8 + ["expert"] * 2
    s = mux.stats
    assert (s.scored_ticks, s.uncertain_ticks, s.requests) == (6, 2, 1)
    assert s.request_rate == pytest.approx(2 / 6) and s.as_dict()["request_rate"] == s.request_rate
    assert MuxStats().request_rate is None


def test_a_new_threshold_in_the_config_applies_from_the_next_episode():
    mux = CommandMux(uncertain_config())
    assert sources(run(mux, 5, score=lambda k: 0.7)) == ["expert"] * 5
    mux.config = dataclasses.replace(mux.config, uncertainty_threshold=0.8, agree_ticks=1)
    mux.start_episode()
    assert sources(run(mux, 5, score=lambda k: 0.7, start=5)) == ["policy"] * 5
    assert mux.gate.threshold == 0.8 and mux.gate.agree_ticks == 1


# -- episodes, config, consistency with labels.py -----------------------------------------------

def test_start_episode_resets_control_and_stats():
    mux = CommandMux(MuxConfig())
    run(mux, 10, engaged=lambda k: k >= 5)
    assert mux.stats.interventions == 1
    mux.start_episode()
    assert mux.stats.ticks == 0
    d = run(mux, 3, engaged=lambda k: False, start=10)
    assert sources(d) == ["policy"] * 3 and not any(x.event for x in d)


def test_labels_and_summary_from_sources_match_the_mux():
    mux = CommandMux(MuxConfig(expert_timeout=0.1, policy_timeout=0.1, handback_ticks=2,
                               blend_ticks=2))
    d = run(mux, 60, engaged=lambda k: 5 <= k < 15 or 30 <= k < 45,
            expert_on=lambda k: not 35 <= k < 40, policy_on=lambda k: k < 55)
    src = sources(d)
    assert "stop" in src[37:40] and "stop" in src[57:]
    np.testing.assert_array_equal(hg_dagger_mask(src), [x.record_label for x in d])
    summary, s = summarize_episode(src), mux.stats
    assert (summary.interventions, summary.handbacks, summary.context_switches) == \
        (s.interventions, s.handbacks, s.context_switches) == (2, 2, 4)
    assert (summary.expert_ticks, summary.autonomous_ticks, summary.stop_ticks) == \
        (s.expert_ticks, s.autonomous_ticks, s.stop_ticks)


@pytest.mark.parametrize("kwargs, match", [
    (dict(mode="dagger"), "self.mode='dagger'"),
    (dict(engage_source="joy"), "self.engage_source='joy'"),
    (dict(beta_draw="round"), "self.beta_draw='round'"),
    (dict(policy_timeout=0.0), "policy_timeout=0.0"),
    (dict(expert_timeout=-1.0), "expert_timeout=-1.0"),
    (dict(handback_ticks=-1), "handback_ticks=-1"),
    (dict(blend_ticks=1.5), "blend_ticks=1.5"),
    (dict(handback_seconds=-0.1), "self.handback_seconds=-0.1"),
    (dict(stop_command=[]), "self.stop_command=[]"),
    (dict(action_scale=[1.0, 1.0]), "self.action_scale=[1.0, 1.0]"),
    (dict(mode="uncertainty"), "self.uncertainty_threshold=inf"),
    (dict(mode="uncertainty", uncertainty_threshold=0.5, agree_ticks=0), "self.agree_ticks=0"),
])
def test_config_validation_shows_the_bad_value(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        MuxConfig(**kwargs)
