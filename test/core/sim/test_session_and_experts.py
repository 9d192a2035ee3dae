"""The machinery around every sim: registry, seeds, noisy expert, the sim node's session logic."""

import numpy as np
import pytest

from bc_ros.core.sim import ROBOTS, env_class, eval_seeds, make_env, train_seeds
from bc_ros.core.sim.experts import NoisyExpert, run_expert_episode
from bc_ros.core.sim.session import SIM_EPOCH, SimConfig, SimSession
from test.core.sim.stub_env import PointEnv


def test_registry_task_names_match_the_env_classes():
    for robot, (_, _, tasks) in ROBOTS.items():
        assert env_class(robot).tasks == tasks


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid robots: drone, arm"):
        make_env("boat")
    with pytest.raises(ValueError, match="valid tasks: reach_around, push"):
        make_env("arm", "stack")


def test_train_and_eval_seeds_are_disjoint():
    assert not set(train_seeds(1000)) & set(eval_seeds(1000))
    assert eval_seeds(3) == [1_000_000, 1_000_001, 1_000_002]


def test_noisy_expert_executes_noise_but_labels_the_clean_command():
    env = PointEnv()
    env.reset(0)
    expert = NoisyExpert(env, 0.5, rng=np.random.default_rng(1), hold_steps=3)
    commands = [expert.act() for _ in range(6)]
    for c in commands:
        np.testing.assert_allclose(c.clean, env.expert_action())
        assert np.all(c.executed >= env.action_low) and np.all(c.executed <= env.action_high)
    offsets = [c.executed - c.clean for c in commands]
    assert any(np.abs(o).max() > 0.05 for o in offsets)
    np.testing.assert_allclose(offsets[0], offsets[2])   # held for hold_steps
    assert not np.allclose(offsets[2], offsets[3])        # then redrawn


def test_noise_free_expert_is_exact_and_reproducible():
    env = PointEnv()
    a = run_expert_episode(env, 3)
    b = run_expert_episode(env, 3, noise_std=0.3, rng=np.random.default_rng(0))
    c = run_expert_episode(env, 3, noise_std=0.3, rng=np.random.default_rng(0))
    assert a["success"] and a["steps"] == 10
    assert b == c


def session(**overrides):
    cfg = SimConfig(**{"robot": "drone", "mode": "lockstep", **overrides})
    return SimSession(cfg, env=PointEnv())


def test_session_runs_seeds_in_sequence_and_keeps_a_monotonic_clock():
    s = session(seed=10, episodes=2)
    for expected_seed in (10, 11):
        s.start_episode()
        assert s.seed == expected_seed
        while (outcome := s.step(s.expert().executed)) is None:
            pass
        assert outcome.success and outcome.seed == expected_seed and outcome.steps == 10
    assert s.clock == pytest.approx(SIM_EPOCH + 2.0) and not s.wants_more()
    with pytest.raises(RuntimeError, match="no episode is running"):
        s.step([0.0, 0.0])


def test_session_lockstep_takes_each_command_once():
    s = session()
    s.start_episode()
    s.latch.tick_started(0.0)
    assert s.action_to_apply(0.01) is None
    s.latch.put(np.array([0.5, 0.0]), 0.02)
    np.testing.assert_allclose(s.action_to_apply(0.03), [0.5, 0.0])
    assert s.action_to_apply(0.04) is None


def test_config_validation_shows_the_bad_value():
    with pytest.raises(ValueError, match="mode='fast'"):
        SimConfig(mode="fast")
    with pytest.raises(ValueError, match="expert_drives needs mode=realtime"):
        SimConfig(mode="lockstep", expert_drives=True)
    with pytest.raises(ValueError, match="image_encoding='yuv'"):
        SimConfig(image_encoding="yuv")
