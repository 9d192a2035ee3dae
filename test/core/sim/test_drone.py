"""The drone forest-trail sim: determinism, observations, actions, dynamics, tasks, expert."""

import math

import numpy as np
import pytest

pytest.importorskip("pybullet")

from bc_ros.core.sim import eval_seeds, make_env, train_seeds  # noqa: E402
from bc_ros.core.sim.drone import DroneEnv  # noqa: E402
from bc_ros.core.sim.experts import run_expert_episode  # noqa: E402

SMALL = (32, 32)  # for tests about control, not pictures: rendering is most of a step's cost


def run(env, action_fn, limit=2000):
    """Step until the episode ends; returns the last info and the number of steps."""
    for n in range(1, limit + 1):
        _, _, terminated, truncated, info = env.step(action_fn())
        if terminated or truncated:
            return info, n, terminated, truncated
    raise AssertionError(f"episode did not end in {limit} steps")


@pytest.fixture
def trail():
    with DroneEnv("trail", image_size=SMALL) as env:
        yield env


@pytest.fixture
def bypass():
    with DroneEnv("bypass", image_size=SMALL) as env:
        yield env


def test_same_seed_same_images_and_states_in_two_envs_side_by_side():
    actions = [[1.5, 0.2, 0.1, 0.3], [2.0, -0.5, 0.0, -0.4]] * 3
    with DroneEnv("bypass") as a, DroneEnv("bypass") as b:
        obs_a, obs_b = a.reset(7), b.reset(7)
        for act in actions:
            obs_a, _, _, _, info_a = a.step(act)
            obs_b, _, _, _, info_b = b.step(act)
        for cam in a.camera_names:
            assert np.array_equal(obs_a["images"][cam], obs_b["images"][cam]), cam
        assert np.array_equal(obs_a["state"], obs_b["state"])
        assert info_a == info_b
        other = a.reset(8)
        assert not np.array_equal(other["images"]["center"], b.reset(7)["images"]["center"])
        assert a.forest.trail.length != b.forest.trail.length


def test_observation_layout_for_a_non_default_image_size():
    with make_env("drone", "trail", image_size=(128, 96)) as env:
        obs = env.reset(train_seeds(1)[0])
        assert list(obs["images"]) == ["left", "center", "right"]
        for img in obs["images"].values():
            assert img.shape == (96, 128, 3) and img.dtype == np.uint8
            assert img.std() > 10  # a picture, not a blank frame
        assert obs["state"].dtype == np.float32 and obs["state"].shape == (8,)
        assert env.state_names == ("x", "y", "z", "yaw", "vx", "vy", "vz", "yaw_rate")
        specs = env.camera_specs()
        assert [c.name for c in specs] == ["left", "center", "right"]
        assert [c.yaw_deg for c in specs] == [30.0, 0.0, -30.0]
        assert all(10 <= c.pitch_deg <= 20 and 70 <= c.fov_deg <= 90 for c in specs)
        overview = env.render_overview(320, 240)
        assert overview.shape == (240, 320, 3) and overview.dtype == np.uint8


@pytest.mark.parametrize("seed", eval_seeds(3))
def test_cameras_see_the_trail_ahead_and_its_edges_to_the_sides(seed):
    with DroneEnv("trail") as env:
        images = env.reset(seed)["images"]

    def share(img, redder):  # fraction of trail-like (tan/brown) or grass-like (green) pixels
        img = img.astype(int)
        diff = img[..., 0] - img[..., 1]
        return float(((diff > 10) if redder else (diff < -5)).mean())

    assert share(images["center"][-12:, 32:64], redder=True) > 0.9, "trail right ahead"
    sides = np.concatenate([images["left"][48:], images["right"][48:]])  # lower halves
    assert share(sides, redder=True) > 0.3, "trail in the side views"
    assert share(sides, redder=False) > 0.1, "grass beyond the trail edges in the side views"


def test_out_of_range_actions_are_clamped_and_bad_ones_refused(trail):
    trail.reset(1)
    assert trail.check_action([10, -10, 5, 9]).tolist() == [3.0, -1.5, 1.0, 1.5]
    for _ in range(20):
        _, _, done, _, _ = trail.step([10, 0, 0, 0])
        assert trail.quad.vx <= 3.0 + 1e-9
        if done:
            break
    assert trail.quad.vx == pytest.approx(3.0, abs=0.05)
    with pytest.raises(ValueError, match="finite"):
        trail.step([1.0, float("nan"), 0, 0])
    with pytest.raises(ValueError, match="4 values"):
        trail.step([1.0, 0.0])
    with pytest.raises(ValueError, match="valid tasks: trail, bypass"):
        DroneEnv("race")
    with DroneEnv("trail", image_size=SMALL) as fresh, pytest.raises(RuntimeError, match="reset"):
        fresh.step([0, 0, 0, 0])


def test_velocity_follows_a_step_command_with_a_lag(trail):
    trail.reset(2)
    x0 = trail.quad.x
    _, _, _, _, info = trail.step([2.0, 0, 0, 0])
    vx = float(trail.state()[4])
    assert 0.1 < vx < 1.0, "a first-order lag must not reach 2 m/s in 0.1 s"
    for _ in range(9):
        trail.step([2.0, 0, 0, 0])
    assert trail.state()[4] == pytest.approx(2.0, abs=0.1)  # within 1 s
    assert info["t"] == pytest.approx(0.1)
    assert 0.8 < trail.quad.x - x0 < 2.0  # position integrates the lagging velocity
    assert trail.quad.pitch > 0.0  # nose down while flying forward (drag)


def test_altitude_is_held_without_a_vz_command(trail):
    trail.reset(3)
    z0 = trail.quad.z
    for _ in range(20):
        trail.step([1.0, 0, 0, 0.5])
    assert trail.quad.z == pytest.approx(z0, abs=0.01)
    for _ in range(5):
        trail.step([1.0, 0, 1.0, 0])
    assert trail.quad.z > z0 + 0.2


def test_odometry_agrees_with_the_state(trail):
    trail.reset(4)
    for _ in range(5):
        obs, *_ = trail.step([1.0, 0.3, 0.0, 0.5])
    odom = trail.odometry()
    x, y, z, yaw = obs["state"][:4]
    np.testing.assert_allclose(odom["position"], [x, y, z], atol=1e-5)
    qx, qy, qz, qw = odom["orientation_xyzw"]
    assert np.linalg.norm(odom["orientation_xyzw"]) == pytest.approx(1.0)
    assert math.atan2(2 * (qw * qz + qx * qy), 1 - 2 * (qy * qy + qz * qz)) == pytest.approx(
        yaw, abs=1e-5)
    np.testing.assert_allclose(odom["linear_body"], obs["state"][4:7], atol=1e-5)
    assert odom["angular_body"][2] == pytest.approx(obs["state"][7], abs=1e-5)


def test_a_constant_sideways_command_leaves_the_trail(trail):
    trail.reset(5)
    info, n, terminated, truncated = run(trail, lambda: [0.5, 1.5, 0.0, 0.0])
    assert info["failure"] == "trail_exit" and terminated and not truncated
    assert not info["success"]
    assert abs(info["lateral_error"]) > trail.forest.trail.half_width + 0.5
    assert n < 40  # about 2 s at 1.5 m/s


def test_flying_the_bare_centreline_hits_the_bypass_tree(bypass):
    bypass.reset(6)
    info, *_ = run(bypass, lambda: bypass.expert_action(avoid=False))
    assert info["failure"] == "collision"
    assert info["progress"] == pytest.approx(bypass.forest.trail.widen_at, abs=1.0)


def test_the_episode_times_out():
    with DroneEnv("trail", image_size=SMALL, max_seconds=1.0) as env:
        env.reset(9)
        info, n, terminated, truncated = run(env, lambda: [0.0, 0.0, 0.0, 0.0])
    assert (n, info["failure"], terminated, truncated) == (10, "timeout", False, True)


@pytest.mark.parametrize("task", ["trail", "bypass"])
def test_the_expert_flies_to_the_end_of_the_trail(task):
    with DroneEnv(task, image_size=SMALL) as env:
        for seed in eval_seeds(2):
            info = run_expert_episode(env, seed)
            assert info["success"], (seed, info)
            assert info["failure"] is None
            assert info["progress"] >= info["trail_length"] - 0.5
            assert info["t"] < 60
            if task == "bypass":
                assert info["mode"] == ("left" if env.side > 0 else "right")
            else:
                assert info["mode"] is None


def test_the_expert_passes_the_bypass_tree_on_both_sides_over_seeds(bypass):
    modes = []
    for seed in train_seeds(10):
        bypass.reset(seed)
        _, _, _, _, info = bypass.step(bypass.expert_action())
        modes.append(info["mode"])
        # the detour goes to the announced side: left is +y of the trail
        assert np.sign(bypass.reference_offset(bypass.forest.trail.widen_at)) == (
            1 if info["mode"] == "left" else -1)
    assert set(modes) == {"left", "right"}


def test_quadrotor_urdf_weighs_one_kilogram():
    import pybullet as p

    from bc_ros.core.sim.drone import URDF

    client = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(URDF, physicsClientId=client)
        links = range(-1, p.getNumJoints(body, physicsClientId=client))
        mass = sum(p.getDynamicsInfo(body, i, physicsClientId=client)[0] for i in links)
    finally:
        p.disconnect(client)
    assert mass == pytest.approx(1.0, abs=0.01)


def _rss_mb() -> float:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def test_a_new_world_frees_the_last_ones_tree_meshes(bypass):
    # pybullet keeps every mesh given as vertex lists until the process ends (3.4 MB a world,
    # 433 MB/h in the soak); the trees are loaded from files instead, which it frees
    # (the allocator's own growth is a few MB at random: a bound far under the 3.4 MB a world
    # that the leak kept, over enough worlds that the noise averages out)
    seeds = train_seeds(50)
    for seed in seeds[:5]:
        bypass.reset(seed)
    before = _rss_mb()
    for seed in seeds[5:]:
        bypass.reset(seed)
    assert (_rss_mb() - before) / 45 < 1.5, "MB kept per reset"


def test_mesh_files_are_reused_per_world_and_removed_on_close():
    import os

    env = DroneEnv("bypass", image_size=SMALL)
    folder = env._meshes._dir.name
    bodies = []
    for seed in train_seeds(3):
        env.reset(seed)
        bodies.append(sum(len(chunk.bodies) for chunk in env._chunks))
        # one file per tree body of the largest world so far: names start over with each world
        assert len(os.listdir(folder)) == max(bodies)
    env.close()
    assert not os.path.exists(folder)
