"""A sim-time clock that stalls mid-episode (the sim paused, as a Gazebo pause or a hung simulator
does to nodes on ``use_sim_time``): the sim, the policy node and the recorder run together on
/clock while the scripted expert flies; the sim is paused for a second of wall time, then resumed.

What a user would check: nothing is commanded while the clock stands (the policy node's timer
runs on sim time, and no time has passed), the stall is not taken for stale observations (no
watchdog trip, no stop command), and the episode is recorded whole, every tick once, with no gap
flagged at the stall."""

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from geometry_msgs.msg import TwistStamped  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402

from bc_ros.core.data.store import EpisodeStore  # noqa: E402
from bc_ros.core.sim import make_env, train_seeds  # noqa: E402
from bc_ros.nodes.policy_node import PolicyNode  # noqa: E402
from bc_ros.nodes.recorder_node import RecorderNode  # noqa: E402
from bc_ros.nodes.runtime import COMMAND_QOS  # noqa: E402
from bc_ros.nodes.sim_node import SimNode  # noqa: E402
from bc_ros.sessions.recording import recorder_overrides_for  # noqa: E402
from test.nodes.helpers import Inbox, close, make_executor, spin_for, spin_until  # noqa: E402
from test.nodes.test_policy_node import make_checkpoint  # noqa: E402

pytestmark = pytest.mark.slow
SIZE = (32, 32)
SIM_TIME = [Parameter("use_sim_time", value=True)]


def test_a_stalled_sim_clock_stops_nothing_and_loses_no_tick(ros_context, tmp_path):
    ckpt = make_checkpoint(tmp_path / "policy.pt", [1.0, 0.0, 0.0, 0.0])
    env = make_env("drone", "trail", image_size=SIZE)
    rec = recorder_overrides_for("drone", "trail", str(tmp_path / "ds"), SIZE, env)
    env.close()
    rec.update(auto_start=True, episodes=1)
    recorder = RecorderNode(rec, context=ros_context, parameter_overrides=SIM_TIME)
    policy = PolicyNode({"checkpoint": ckpt, "mode": "realtime", "cmd_topic": "policy/cmd",
                         "command_type": "twist_stamped", "torch_threads": 1,
                         "resize_images": True},
                        context=ros_context, parameter_overrides=SIM_TIME)
    sim = SimNode({"robot": "drone", "task": "trail", "seed": train_seeds(1)[0],
                   "expert_drives": True, "rate_hz": 50.0, "publish_clock": True,
                   "command_type": "twist_stamped", "image_width": SIZE[0],
                   "image_height": SIZE[1], "episodes": 1, "wait_for_subscribers": 1},
                  context=ros_context)
    probe = Node("probe", context=ros_context)
    commands = Inbox(probe, TwistStamped, "policy/cmd", COMMAND_QOS)
    clock = Inbox(probe, Clock, "clock", COMMAND_QOS)
    pause = probe.create_client(SetBool, "sim/pause")
    executor = make_executor(ros_context, recorder, policy, sim, probe)

    def call(data):
        future = pause.call_async(SetBool.Request(data=data))
        spin_until(executor, future.done, what="the pause response")
        assert future.result().success

    try:
        spin_until(executor, pause.service_is_ready, 30, "the pause service")
        spin_until(executor, lambda: policy.counts["commands"] >= 20, 60,
                   "the policy commanding on sim time")
        call(True)
        spin_for(executor, 0.1)       # what was on its way when the clock stopped
        before = (len(commands), len(clock), dict(policy.counts), sim.session.steps)
        spin_for(executor, 1.0)       # 50 of the sim's real-time periods
        assert (len(commands), len(clock), sim.session.steps) == (before[0], before[1],
                                                                   before[3])
        call(False)
        spin_until(executor, lambda: len(commands) >= before[0] + 20, 30,
                   "commands after the clock goes on")
        for key in ("watchdog_trips", "stop_commands"):
            assert policy.counts.get(key, 0) == before[2].get(key, 0), key
        spin_until(executor, lambda: sim.done, 120, "the end of the episode")
        steps = sim.session.outcomes[-1].steps
        spin_until(executor, lambda: len(EpisodeStore(str(tmp_path / "ds")).episodes) == 1, 60,
                   "the recorder to save the episode")
    finally:
        close(executor)
        sim.close()
        for node in (recorder, policy, sim, probe):
            node.destroy_node()

    store = EpisodeStore(str(tmp_path / "ds"))
    summary = store.episodes[0]
    episode = store.read(summary["index"])
    stamps = episode["time"]
    # every tick once, a control period apart, across the stall (its observation at
    # resumption is the same tick again, stamped the same, and is not stored twice)
    assert len(stamps) >= steps
    assert np.allclose(np.diff(stamps), 0.1)
    assert not summary.get("recovered")
