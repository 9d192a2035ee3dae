"""The recorder fed by the sim node over ROS 2 (bc-ros record): what was published is stored."""

import numpy as np
import pytest

pytest.importorskip("rclpy")

from bc_ros.core.data.store import EpisodeStore  # noqa: E402
from bc_ros.core.sim import eval_seeds, make_env  # noqa: E402
from bc_ros.core.sim.session import SIM_EPOCH  # noqa: E402
from bc_ros.sessions.recording import record_with_expert  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("robot,task,transport", [("drone", "trail", "raw"),
                                                 ("arm", "reach_around", "raw"),
                                                 ("drone", "trail", "compressed")])
def test_recorded_episodes_match_what_the_sim_published(tmp_path, robot, task, transport):
    result = record_with_expert(robot, task, episodes=2, dataset=str(tmp_path / "ds"),
                                seed=eval_seeds(1)[0], rate_hz=200.0, image_size=(48, 48),
                                quiet=True, image_transport=transport)
    outcomes, episodes = result["outcomes"], result["episodes"]
    assert len(episodes) == 2 and len(outcomes) >= 2
    store = EpisodeStore(str(tmp_path / "ds"))
    clock = SIM_EPOCH
    for outcome, summary in zip(outcomes, episodes):
        # One row per published observation: the episode's steps (the terminal state is never
        # published, the reset's first frame is).
        assert summary["length"] == outcome["steps"]
        assert summary["success"] == outcome["success"]
        assert summary["counts"].get("ticks_flagged", 0) == 0
        data = store.read(summary["index"])
        np.testing.assert_allclose(data["time"], clock + 0.1 * np.arange(summary["length"]),
                                   atol=1e-6)
        np.testing.assert_allclose(data["stamps"], np.repeat(data["time"][:, None], 5, 1),
                                   atol=1e-6)  # every stream stamped exactly at its tick
        clock = outcome["end_stamp"]
    # The first stored frame is the sim's first observation for that seed.
    with make_env(robot, task, image_size=(48, 48)) as env:
        obs = env.reset(eval_seeds(1)[0])
    stored = store.read(episodes[0]["index"])["image_center"][0]
    if transport == "raw":
        np.testing.assert_array_equal(stored, obs["images"]["center"])
    else:   # through JPEG at the sim's quality 90 (4:2:0 chroma): close, not equal
        assert np.abs(stored.astype(int) - obs["images"]["center"]).mean() < 8.0
