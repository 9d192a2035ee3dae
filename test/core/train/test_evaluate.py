"""Closed-loop evaluation: the interval, determinism per seed, failure causes, bad policies, and
that the state it feeds the policy is the state the recorder stores."""

import numpy as np
import pytest
import torch

from bc_ros.core.policy.encoders import EncoderConfig
from bc_ros.core.policy.policy import Policy, PolicyConfig
from bc_ros.core.policy.runner import ObservationError, PolicyRunner, RunnerConfig
from bc_ros.core.sim import make_env
from bc_ros.core.train.evaluate import evaluate, recorded_state, wilson_interval

SMALL = EncoderConfig(channels=(8, 8), keypoints=4, view_dim=8, state_dim_out=8, embed_dim=16)


def stats(n, mean=0.0, std=1.0, lo=-1.0, hi=1.0):
    return {"mean": np.full(n, mean), "std": np.full(n, std), "min": np.full(n, lo),
            "max": np.full(n, hi), "q01": np.full(n, lo), "q99": np.full(n, hi),
            "count": np.array(10)}


def drone_policy(head="gaussian", state_dim=8, bias=None, **kw):
    torch.manual_seed(0)
    cfg = PolicyConfig(head=head, head_options={"hidden": 16}, encoder=SMALL,
                       cameras=["center"], image_size=(32, 32), state_dim=state_dim,
                       action_names=["vx", "vy", "vz", "yaw_rate"], robot="drone",
                       task="trail", **kw)
    policy = Policy(cfg)
    policy.normalizer.fit({"state": stats(max(state_dim, 1)), "action": stats(4)})
    return policy.eval()


def test_wilson_interval_matches_known_values():
    lo, hi = wilson_interval(100, 100)
    assert (lo, hi) == (pytest.approx(0.963, abs=1e-3), pytest.approx(1.0))
    lo, hi = wilson_interval(50, 100)
    assert (lo, hi) == (pytest.approx(0.404, abs=1e-3), pytest.approx(0.596, abs=1e-3))
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_an_episode_repeats_exactly_for_its_seed_and_failures_are_named():
    policy = drone_policy()
    a = evaluate(policy, "drone", "trail", seeds=[1000000, 1000001])
    b = evaluate(policy, "drone", "trail", seeds=[1000000, 1000001])
    assert a["records"] == b["records"]
    assert a["episodes"] == 2 and a["successes"] == 0       # an untrained policy fails ...
    assert sum(a["failures"].values()) == 2                 # ... and each failure has a cause
    assert set(a["failures"]) <= {"trail_exit", "collision", "timeout"}
    assert a["ci95"] == [0.0, pytest.approx(0.658, abs=1e-3)]


def test_a_policy_for_other_cameras_is_refused_with_what_it_needs():
    policy = drone_policy()
    policy.config.cameras = ["front"]
    with pytest.raises(ValueError, match="no image from camera 'front'"):
        evaluate(policy, "drone", "trail", seeds=[1000000])


def test_runner_never_sends_a_non_finite_command_and_clamps():
    policy = drone_policy(state_dim=0)
    runner = PolicyRunner(policy, RunnerConfig(low=[-0.1] * 4, high=[0.1] * 4))
    obs = {"images": {"center": np.zeros((32, 32, 3), np.uint8)}}
    out = runner.act(obs)
    assert np.all(np.abs(out.command) <= 0.1)
    with torch.no_grad():
        for p in policy.head.parameters():
            p.fill_(float("nan"))
    runner.reset()
    out = runner.act(obs)
    assert out.status == "nonfinite" and np.array_equal(out.command, np.zeros(4))
    assert runner.counts["nonfinite"] == 1


def test_runner_resizes_only_when_allowed():
    policy = drone_policy(state_dim=0)
    big = {"images": {"center": np.zeros((64, 48, 3), np.uint8)}}
    with pytest.raises(ObservationError, match="48x64, the policy was trained on 32x32"):
        PolicyRunner(policy, RunnerConfig(low=[-1] * 4, high=[1] * 4)).act(big)
    runner = PolicyRunner(policy, RunnerConfig(low=[-1] * 4, high=[1] * 4, resize=True))
    assert runner.act(big).command.shape == (4,) and runner.counts["resized"] == 1


def test_drone_state_is_the_odometry_vector_the_recorder_stores():
    conv = pytest.importorskip("bc_ros.nodes.conversions")
    env = make_env("drone", "trail", image_size=(32, 32))
    try:
        env.reset(1000000)
        for _ in range(5):
            env.step(env.expert_action())
        msg = conv.odometry_to_msg(env.odometry(), conv.time_to_msg(0.0))
        np.testing.assert_allclose(recorded_state(env, "drone"), conv.odometry_from_msg(msg),
                                   atol=1e-6)
    finally:
        env.close()
