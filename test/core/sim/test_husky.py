"""The Husky sim (the third robot): its expert reaches the red cube on held-out seeds, the same
seed gives the same images, and each way of failing is reported as such."""

import numpy as np
import pytest

from bc_ros.core.robot import load_profile
from bc_ros.core.sim import eval_seeds, make_env


@pytest.fixture(scope="module")
def husky():
    env = make_env("husky", "to_cube", image_size=(64, 48))
    yield env
    env.close()


def run(env, seed, policy):
    env.reset(seed)
    while True:
        obs, _, terminated, truncated, info = env.step(policy(env))
        if terminated or truncated:
            return info


def test_the_expert_reaches_the_red_cube_on_held_out_seeds(husky):
    infos = [run(husky, s, lambda e: e.expert_action()) for s in eval_seeds(20)]
    assert all(i["success"] for i in infos)


def test_same_seed_same_world_and_images(husky):
    a = husky.reset(7)
    target = husky.target.copy()
    b = husky.reset(8)
    c = husky.reset(7)
    assert a["images"]["center"].shape == (48, 64, 3)
    np.testing.assert_array_equal(a["images"]["center"], c["images"]["center"])
    assert not np.array_equal(a["images"]["center"], b["images"]["center"])
    np.testing.assert_allclose(husky.target, target)
    # the red cube is in view: red pixels on the image
    img = a["images"]["center"].astype(int)
    assert ((img[..., 0] > 150) & (img[..., 1] < 60)).sum() > 4


def test_failures_are_named(husky):
    assert run(husky, 1, lambda e: [0.0, 0.0])["failure"] == "timeout"
    assert run(husky, 1, lambda e: [-0.5, 0.0])["failure"] == "workspace_exit"

    def to_other(e):   # the expert's steering, aimed at the other cube
        target, e.target = e.target, e.other
        try:
            return e.expert_action()
        finally:
            e.target = target
    assert run(husky, 1, to_other)["failure"] == "collision"


def test_its_profile_matches_the_sim(husky):
    p = load_profile("husky")
    assert p.command.actions == list(husky.action_names)
    assert p.command.low == list(husky.action_low) and p.command.high == list(husky.action_high)
    assert p.camera_names == list(husky.camera_names) and p.state.type == husky.state_type
