"""The README's "Your own robot" steps on the third robot, the Husky, added by its profile and sim
adapter alone: record over ROS 2 (the profile goes into the dataset), train, and drive the sim
with the policy node in lockstep, its limits, topics and command type taken from the profile the
checkpoint carries (no low/high given)."""

import json

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from bc_ros.core.data.store import EpisodeStore  # noqa: E402
from bc_ros.core.robot import load_profile  # noqa: E402
from bc_ros.core.sim import eval_seeds  # noqa: E402
from bc_ros.core.train.config import TrainConfig  # noqa: E402
from bc_ros.core.train.trainer import train  # noqa: E402
from bc_ros.nodes import conversions as conv  # noqa: E402
from bc_ros.nodes.policy_node import PolicyNode  # noqa: E402
from bc_ros.nodes.runtime import COMMAND_QOS  # noqa: E402
from bc_ros.nodes.sim_node import SimNode  # noqa: E402
from bc_ros.sessions.recording import record_with_expert  # noqa: E402
from test.nodes.helpers import Inbox, close, make_executor, spin_until  # noqa: E402

pytestmark = pytest.mark.slow


def test_record_train_and_drive_the_husky_from_its_profile(tmp_path, ros_context):
    profile = load_profile("husky")
    data = str(tmp_path / "husky")
    result = record_with_expert("husky", "to_cube", 3, data, rate_hz=500.0, image_size=(48, 48),
                                quiet=True)
    assert len(result["episodes"]) == 3
    info = EpisodeStore(data).meta["info"]
    assert info["robot_profile"]["name"] == "husky" and info["cameras"][0]["name"] == "center"
    assert info["action_names"] == profile.command.actions

    train(TrainConfig(dataset=data, out=str(tmp_path / "run"), head="gaussian", use_state=True,
                      steps=20, batch_size=16, val_fraction=0.34, threads=1, progress=False))
    ckpt = str(tmp_path / "run" / "last.pt")

    sim = SimNode({"robot": "husky", "seed": eval_seeds(1)[0], "mode": "lockstep",
                   "publish_clock": True, "image_width": 48, "image_height": 48,
                   "episodes": 2}, context=ros_context)
    policy = PolicyNode({"checkpoint": ckpt, "mode": "lockstep", "cmd_topic": "cmd",
                         "command_type": "twist", "torch_threads": 1}, context=ros_context,
                        parameter_overrides=[Parameter("use_sim_time", value=True)])
    probe = Node("probe", context=ros_context)
    cmds = Inbox(probe, conv.Twist, "cmd", COMMAND_QOS)
    outcomes = Inbox(probe, String, "sim/outcome", COMMAND_QOS)
    executor = make_executor(ros_context, sim, policy, probe)
    try:
        assert policy.inference.runner.config.low == profile.command.low
        assert policy.inference.runner.config.high == profile.command.high
        spin_until(executor, lambda: len(outcomes) >= 2, 120, "two episodes")
        sent = np.array([conv.command_from_msg(m, profile.command.actions)
                         for m in cmds.messages])
        assert len(sent) >= 2
        assert np.all(sent >= np.array(profile.command.low) - 1e-9)
        assert np.all(sent <= np.array(profile.command.high) + 1e-9)
        for m in outcomes.messages[:2]:
            out = json.loads(m.data)
            assert out["success"] or out["failure"] in ("collision", "workspace_exit", "timeout")
    finally:
        close(executor)
        sim.close()
        for node in (sim, policy, probe):
            node.destroy_node()
