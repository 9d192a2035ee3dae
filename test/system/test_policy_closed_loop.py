"""The policy over ROS computes what `bc-ros eval` computes: sim_node and policy_node in lockstep
on a few held-out drone seeds, against the ROS-free evaluation of the same checkpoint."""

import json

import numpy as np
import pytest
import torch

rclpy = pytest.importorskip("rclpy")

from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from bc_ros.core.policy.backend import make_backend  # noqa: E402
from bc_ros.core.policy.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from bc_ros.core.policy.runner import PolicyRunner, RunnerConfig  # noqa: E402
from bc_ros.core.sim import make_env  # noqa: E402
from bc_ros.core.train.evaluate import run_episode  # noqa: E402
from bc_ros.nodes import conversions as conv  # noqa: E402
from bc_ros.nodes.policy_node import PolicyNode  # noqa: E402
from bc_ros.nodes.runtime import COMMAND_QOS  # noqa: E402
from bc_ros.nodes.sim_node import SimNode  # noqa: E402
from test.core.train.test_evaluate import drone_policy  # noqa: E402
from test.nodes.helpers import Inbox, close, make_executor, spin_until  # noqa: E402

pytestmark = pytest.mark.slow
SEEDS = [1000000, 1000001]


def ros_free(path, backend):
    policy, _ = load_checkpoint(path)
    policy.set_backend(make_backend(backend, policy))   # as bc-ros eval --backend does
    env = make_env("drone", "trail", image_size=(32, 32))
    runner = PolicyRunner(policy, RunnerConfig(low=list(env.action_low),
                                               high=list(env.action_high)))
    results = []
    try:
        for seed in SEEDS:
            commands = []
            record = run_episode(env, runner, "drone", seed,
                                 on_step=lambda e, o, c, i: commands.append(c))
            results.append((record, np.array(commands)))
    finally:
        env.close()
    return results


@pytest.mark.parametrize("backend,command_type,chunk", [
    ("torch", "twist_stamped", 0), ("onnxruntime", "twist_stamped", 0),
    ("torch", "joint_trajectory", 3)])
def test_ros_closed_loop_equals_the_ros_free_eval(tmp_path, ros_context, backend, command_type,
                                                  chunk):
    """joint_trajectory: the policy sends the rest of a chunk of 3 as trajectory points, the
    sim executes their first: the same closed loop as eval's."""
    if backend == "onnxruntime":
        pytest.importorskip("onnxruntime")
    torch.manual_seed(3)
    path = str(tmp_path / "policy.pt")
    kw = {"horizon": chunk, "n_action_steps": chunk} if chunk else {}
    save_checkpoint(drone_policy(**kw), path)      # untrained, with state: both paths matter
    expected = ros_free(path, backend)

    env = make_env("drone", "trail", image_size=(32, 32))
    low, high = list(env.action_low), list(env.action_high)
    env.close()
    sim = SimNode({"robot": "drone", "task": "trail", "seed": SEEDS[0], "mode": "lockstep",
                   "publish_clock": True, "auto_reset": False, "image_width": 32,
                   "image_height": 32, "command_type": command_type,
                   "command_timeout": 0.5}, context=ros_context)
    policy = PolicyNode({"checkpoint": path, "mode": "lockstep", "cmd_topic": "cmd",
                         "command_type": command_type, "low": low, "high": high,
                         "torch_threads": 1, "backend": backend,
                         "publish_chunk": bool(chunk)}, context=ros_context,
                        parameter_overrides=[Parameter("use_sim_time", value=True)])
    probe = Node("probe", context=ros_context)
    cmds = Inbox(probe, conv.command_class(command_type), "cmd", COMMAND_QOS)
    outcomes = Inbox(probe, String, "sim/outcome", COMMAND_QOS)
    reset = probe.create_client(Trigger, "/sim/reset")
    executor = make_executor(ros_context, sim, policy, probe)
    try:
        for k, seed in enumerate(SEEDS):
            if k > 0:   # the policy resets itself on sim/outcome; then the sim's next world
                sim.set_parameters([Parameter("seed", value=seed)])
                spin_until(executor, reset.service_is_ready, 30, "the sim's reset service")
                future = reset.call_async(Trigger.Request())
                spin_until(executor, future.done, 30, "the reset")
            start = len(cmds)
            spin_until(executor, lambda: len(outcomes) > k, 120, f"episode {seed}")
            outcome = json.loads(outcomes.messages[k].data)
            record, want = expected[k]
            got = np.array([conv.command_from_msg(m, ["vx", "vy", "vz", "yaw_rate"])
                            for m in cmds.messages[start:]])[:outcome["steps"]]
            assert outcome["seed"] == seed
            assert (outcome["success"], outcome["failure"], outcome["steps"]) == \
                (record["success"], record["failure"], record["steps"])
            np.testing.assert_allclose(got, want, atol=1e-5)
            if chunk:   # the ticks of a chunk sent 3, 2, 1 points: the plan from each on
                sizes = [len(m.points) for m in cmds.messages[start:]][:outcome["steps"]]
                assert sizes == [3, 2, 1] * (len(sizes) // 3) + [3, 2, 1][:len(sizes) % 3]
    finally:
        close(executor)
        sim.close()
        for node in (sim, policy, probe):
            node.destroy_node()
