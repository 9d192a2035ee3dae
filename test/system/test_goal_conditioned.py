"""Goal-conditioned control over ROS 2 (issue 18): goal-labelled reach_goal demonstrations recorded
over ROS 2 (the recorder stores the goal topic), a goal-conditioned policy trained on them, and
the policy node driving the arm sim in lockstep from the sim's goal topic. Mid-episode the goal
moves (sim/set_goal, as RViz's Publish Point tool would send it): the arm turns to the new
goal."""

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from geometry_msgs.msg import PointStamped  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from bc_ros.core.data.store import EpisodeStore  # noqa: E402
from bc_ros.core.sim import eval_seeds, make_env  # noqa: E402
from bc_ros.core.train.config import TrainConfig  # noqa: E402
from bc_ros.core.train.trainer import train  # noqa: E402
from bc_ros.nodes.policy_node import PolicyNode  # noqa: E402
from bc_ros.nodes.runtime import COMMAND_QOS  # noqa: E402
from bc_ros.nodes.sim_node import SimNode, point_msg  # noqa: E402
from bc_ros.sessions.recording import record_with_expert  # noqa: E402
from test.nodes.helpers import Inbox, close, make_executor, spin_until  # noqa: E402

pytestmark = pytest.mark.slow

SIZE = (32, 32)


@pytest.fixture(scope="module")
def goal_policy(tmp_path_factory):
    """A goal-conditioned policy trained on 40 goal-labelled demonstrations (seconds)."""
    root = tmp_path_factory.mktemp("goal")
    data = str(root / "reach_goal")
    record_with_expert("arm", "reach_goal", 40, data, rate_hz=1000.0, image_size=SIZE,
                       quiet=True)
    train(TrainConfig(dataset=data, out=str(root / "run"), head="gaussian", cameras=["center"],
                      goal="recorded", horizon=1, steps=400, batch_size=64, lr=2e-3,
                      random_shift=0, val_fraction=0.1, threads=1, progress=False))
    return data, str(root / "run" / "last.pt")


def test_the_recorder_stores_the_goal_and_where_the_hand_got_to(goal_policy):
    data, _ = goal_policy
    store = EpisodeStore(data)
    assert {"goal", "achieved_goal"} <= set(store.meta["info"]["streams"])
    episode = store.read(store.episodes[0]["index"])
    env = make_env("arm", "reach_goal", image_size=SIZE)
    try:
        env.reset(0)     # the first demonstration's seed
        np.testing.assert_allclose(episode["goal"], np.tile(env.goal_point(), (len(episode["goal"]), 1)),
                                   atol=1e-6)
    finally:
        env.close()
    # the hand ends within the task's 3 cm of the goal: a success
    assert np.linalg.norm(episode["achieved_goal"][-1] - episode["goal"][-1]) < 0.06


def test_a_new_goal_mid_episode_redirects_the_arm(goal_policy, ros_context):
    _, ckpt = goal_policy
    seed = eval_seeds(1)[0]
    sim = SimNode({"robot": "arm", "task": "reach_goal", "seed": seed, "mode": "lockstep",
                   "publish_clock": True, "image_width": SIZE[0], "image_height": SIZE[1],
                   "episodes": 1, "auto_reset": False}, context=ros_context)
    policy = PolicyNode({"checkpoint": ckpt, "mode": "lockstep", "cmd_topic": "cmd",
                         "command_type": "twist", "torch_threads": 1}, context=ros_context,
                        parameter_overrides=[Parameter("use_sim_time", value=True)])
    probe = Node("probe", context=ros_context)
    hand = Inbox(probe, PointStamped, "achieved_goal", COMMAND_QOS)
    goals = Inbox(probe, PointStamped, "goal", COMMAND_QOS)
    set_goal = probe.create_publisher(PointStamped, "sim/set_goal", COMMAND_QOS)
    executor = make_executor(ros_context, sim, policy, probe)
    env = sim.session.env
    first = env.goal_point()
    # the new goal: across the workspace from the first one (y mirrored, x and z kept)
    second = np.array([first[0], -np.sign(first[1] or 1.0) * 0.25, first[2]])
    try:
        spin_until(executor, lambda: len(hand) >= 3, 60, "the first ticks")
        set_goal.publish(point_msg(second, probe.get_clock().now().to_msg()))
        spin_until(executor, lambda: np.allclose(env.goal_point(), second), 30, "the new goal")
        changed_at = len(hand)
        spin_until(executor, lambda: sim.done or len(hand) >= changed_at + 40, 120,
                   "the arm to reach the new goal")
        points = np.array([[m.point.x, m.point.y, m.point.z] for m in hand.messages])
        after = points[changed_at:]
        to_second = np.linalg.norm(after - second, axis=1)
        # the policy node read the goal topic: the sim published the new goal
        assert np.allclose([goals.messages[-1].point.x, goals.messages[-1].point.y,
                            goals.messages[-1].point.z], second)
        # the hand turned to the new goal and got there (the episode's success ends it)
        assert to_second.min() < 0.05, to_second
        assert to_second.min() < np.linalg.norm(points[changed_at - 1] - second) - 0.1
        # the goal goes out before each observation; the first one may still trail the first
        # observation (two topics), and that tick is a stop command
        assert policy.counts.get("goal/missing", 0) <= 1
    finally:
        close(executor)
        sim.close()
        for node in (sim, policy, probe):
            node.destroy_node()
