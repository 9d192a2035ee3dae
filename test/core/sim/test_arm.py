"""The Franka Panda arm sim: determinism, observations, control, tasks and scripted experts."""

import numpy as np
import pytest

pytest.importorskip("pybullet")

from bc_ros.core.sim import eval_seeds, make_env  # noqa: E402
from bc_ros.core.sim.arm import MAX_SPEED, WORKSPACE_HIGH, ArmEnv  # noqa: E402
from bc_ros.core.sim.base import CAMERA_NAMES, FAILURE_CAUSES  # noqa: E402
from bc_ros.core.sim.experts import run_expert_episode  # noqa: E402


@pytest.fixture(scope="module")
def reach():
    with ArmEnv("reach_around") as env:
        yield env


@pytest.fixture(scope="module")
def push():
    with ArmEnv("push") as env:
        yield env


def rollout(env, seed, actions):
    obs = env.reset(seed)
    for a in actions:
        obs, *_ = env.step(a)
    return obs


ACTIONS = [np.array([0.2, 0.1, -0.05])] * 3 + [np.array([-0.1, -0.2, 0.1])] * 3


def test_same_seed_same_images_and_state_even_after_other_episodes(push):
    first = rollout(push, 5, ACTIONS)
    rollout(push, 6, ACTIONS)                      # another world in between
    again = rollout(push, 5, ACTIONS)
    with ArmEnv("push") as other:                  # and a second env in the same process
        fresh = rollout(other, 5, ACTIONS)
    for obs in (again, fresh):
        np.testing.assert_array_equal(obs["state"], first["state"])
        for name in CAMERA_NAMES:
            np.testing.assert_array_equal(obs["images"][name], first["images"][name])


def test_different_seeds_give_different_worlds(reach):
    a, b = reach.reset(1), reach.reset(2)
    assert not np.array_equal(a["state"], b["state"])
    assert not np.array_equal(a["images"]["center"], b["images"]["center"])


def test_observation_layout_at_a_non_default_image_size():
    with make_env("arm", "reach_around", image_size=(64, 48)) as env:
        obs = env.reset(0)
        assert env.robot == "arm" and env.tasks == ("reach_around", "push", "reach_goal", "play")
        assert set(obs["images"]) == set(CAMERA_NAMES)
        for img in obs["images"].values():
            assert img.shape == (48, 64, 3) and img.dtype == np.uint8
            assert img.std() > 10                      # a scene, not a blank frame
        assert obs["state"].dtype == np.float32 and obs["state"].shape == (12,)
        assert len(env.state_names) == 12 and env.state_names[-3:] == ("ee_x", "ee_y", "ee_z")
        np.testing.assert_allclose(obs["state"][-3:], env.ee_position(), atol=1e-6)
        assert env.action_names == ("vx", "vy", "vz")
        np.testing.assert_allclose(env.action_high, [MAX_SPEED] * 3)
        np.testing.assert_allclose(env.action_low, [-MAX_SPEED] * 3)
        js = env.joint_state()
        assert js["name"][0] == "panda_joint1" and len(js["name"]) == 9
        assert js["position"].shape == js["velocity"].shape == (9,)
        np.testing.assert_allclose(js["position"], obs["state"][:9], atol=1e-6)
        specs = env.camera_specs()
        assert [s.name for s in specs] == list(CAMERA_NAMES)
        assert all(s.target is not None for s in specs)
        assert specs[0].position[1] > 0 > specs[2].position[1]    # left is +y (REP 103)
        assert env.render_overview(120, 90).shape == (90, 120, 3)


def test_the_largest_image_size_renders():
    with ArmEnv("push", image_size=(640, 480)) as env:
        obs = env.reset(0)
        assert obs["images"]["left"].shape == (480, 640, 3)


def test_bad_actions_are_refused_with_a_clear_message(reach):
    reach.reset(0)
    with pytest.raises(ValueError, match=r"3 values \(vx, vy, vz\)"):
        reach.step([0.1, 0.0])
    with pytest.raises(ValueError, match="finite"):
        reach.step([np.nan, 0.0, 0.0])


def test_out_of_range_commands_are_clamped_to_the_speed_limit(reach):
    def dx(action):
        reach.reset(3)
        x0 = reach.ee_position()[0]
        for _ in range(3):
            reach.step(action)
        return reach.ee_position()[0] - x0
    assert dx([5.0, 0.0, 0.0]) == pytest.approx(dx([MAX_SPEED, 0.0, 0.0]), abs=1e-9)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_the_hand_moves_as_commanded(reach, axis):
    reach.reset(4)
    v = np.zeros(3)
    v[axis] = 0.1 if axis < 2 else -0.1
    start = reach.ee_position()
    for _ in range(4):
        before = reach.ee_position()
        reach.step(v)
        moved = reach.ee_position() - before
    # steady state: v * dt per step along the axis, nothing much across it
    assert moved[axis] == pytest.approx(v[axis] * reach.control_dt, abs=0.003)
    total = reach.ee_position() - start
    assert abs(total[axis]) > 0.03
    assert np.abs(np.delete(total, axis)).max() < 0.005


def test_the_workspace_ceiling_holds(reach):
    reach.reset(0)
    for _ in range(15):
        *_, info = reach.step([0.0, 0.0, MAX_SPEED])
    assert reach.ee_position()[2] <= WORKSPACE_HIGH[2] + 0.005
    assert WORKSPACE_HIGH[2] + 0.01 < reach.pillar_centre[2] * 2   # the pillar is taller


@pytest.mark.parametrize("task", ["reach_around", "push"])
def test_scripted_expert_succeeds_on_held_out_seeds(reach, push, task):
    env = reach if task == "reach_around" else push
    for seed in eval_seeds(3, start=50):
        info = run_expert_episode(env, seed)
        assert info["success"], info
        assert info["failure"] is None and info["steps"] <= 80
        assert info["distance"] <= 0.035 and info["t"] == pytest.approx(info["steps"] * 0.1)


def test_reach_around_uses_both_sides(reach):
    modes = [(reach.reset(s), reach.mode)[1] for s in range(10)]
    assert set(modes) == {"left", "right"}
    *_, info = reach.step([0.0, 0.0, 0.0])
    assert info["mode"] == reach.mode


def test_going_straight_at_the_target_hits_the_pillar(reach):
    reach.reset(7)
    for _ in range(60):
        err = reach.goal - reach.ee_position()
        obs, reward, terminated, truncated, info = reach.step(np.clip(3 * err, -0.25, 0.25))
        if terminated or truncated:
            break
    assert terminated and not info["success"]
    assert info["failure"] == "collision" and info["failure"] in FAILURE_CAUSES


def test_push_reports_a_cube_off_the_table_as_dropped(push):
    import pybullet as p
    push.reset(0)
    p.resetBasePositionAndOrientation(push.cube, (1.3, 0.0, 0.1), (0, 0, 0, 1),
                                      physicsClientId=push.client)
    *_, terminated, truncated, info = push.step([0.0, 0.0, 0.0])
    assert terminated and info["failure"] == "dropped" and info["mode"] is None


def test_timeout_ends_the_episode():
    with ArmEnv("push", max_seconds=0.3) as env:
        env.reset(0)
        results = [env.step([0.0, 0.0, 0.0]) for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]
    assert results[-1][4]["failure"] == "timeout" and env.max_steps == 3


def test_optional_gripper_opens_the_fingers():
    with ArmEnv("push", gripper=True) as env:
        assert env.action_names[-1] == "gripper" and env.action_high[-1] == 1.0
        env.reset(0)
        for _ in range(3):
            obs, *_ = env.step([0.0, 0.0, 0.0, 1.0])
        assert obs["state"][7] > 0.03 and obs["state"][8] > 0.03   # each finger ~4 cm out
        assert env.expert_action().shape == (4,)


def test_reach_goal_goals_are_commands_the_cameras_never_see():
    with ArmEnv("reach_goal", image_size=(48, 48)) as env:
        seeds = eval_seeds(10)
        wins = [run_expert_episode(env, s)["success"] for s in seeds]
        assert all(wins)
        obs = env.reset(seeds[0])
        first = env.goal_point()
        view = env.render_overview(160, 120)
        env.set_goal([0.40, -0.25, 0.10])      # the cameras see the same scene
        np.testing.assert_array_equal(env._obs()["images"]["center"], obs["images"]["center"])
        assert not np.array_equal(env.render_overview(160, 120), view)  # the overview does
        assert env.goal_point().tolist() == [0.40, -0.25, 0.10] and first is not None
        assert env.achieved_goal().shape == (3,)
        for bad in ([0.40, -0.25], [float("nan"), 0.0, 0.1], [2.0, 0.0, 0.1]):
            with pytest.raises(ValueError, match="goal is x y z within"):
                env.set_goal(bad)
        assert env.goal_point().tolist() == [0.40, -0.25, 0.10]   # kept


def test_play_tours_the_workspace_without_a_goal_and_ends_without_failure():
    with ArmEnv("play", image_size=(48, 48)) as env:
        env.reset(3)
        assert env.goal_point() is None
        with pytest.raises(ValueError, match="takes no goal"):
            env.set_goal([0.5, 0.0, 0.1])
        hand = []
        while True:
            _, _, terminated, truncated, info = env.step(env.expert_action())
            hand.append(env.achieved_goal())
            if terminated or truncated:
                break
        assert truncated and not info["success"] and info["failure"] is None
        assert len(hand) == env.max_steps
        assert env._waypoint >= 5                                # it went places
        assert np.ptp(np.array(hand), axis=0).min() > 0.05       # in all three axes
