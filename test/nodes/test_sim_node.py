"""In-process tests of sim_node: what a recorder, a policy or a person would see on the topics."""

import json

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from bc_ros.core.sim import eval_seeds, make_env  # noqa: E402
from bc_ros.core.sim.session import SIM_EPOCH, SimConfig  # noqa: E402
from bc_ros.nodes import conversions as conv  # noqa: E402
from bc_ros.nodes.runtime import COMMAND_QOS, SENSOR_QOS  # noqa: E402
from bc_ros.nodes.sim_node import SimNode  # noqa: E402
from test.nodes.helpers import Inbox, close, make_executor, spin_for, spin_until  # noqa: E402

SEED = eval_seeds(1)[0]
CAMERAS = ("left", "center", "right")


class Probe(Node):
    """Stands where a policy node would: hears the observation, sends commands."""

    def __init__(self, context, robot="drone", command_type="twist", transport="raw"):
        super().__init__("probe", context=context)
        self.images = {c: Inbox(self, conv.image_class(transport),
                                conv.camera_topic(c, transport), SENSOR_QOS)
                       for c in CAMERAS}
        state = ("odom", conv.Odometry) if robot == "drone" else ("joint_states",
                                                                  conv.JointState)
        self.state = Inbox(self, state[1], state[0], SENSOR_QOS)
        self.expert = Inbox(self, conv.command_class(command_type), "expert/cmd", COMMAND_QOS)
        self.clock = Inbox(self, Clock, "clock", COMMAND_QOS)
        self.outcomes = Inbox(self, String, "sim/outcome", COMMAND_QOS)
        self.cmd = self.create_publisher(conv.command_class(command_type), "cmd", COMMAND_QOS)
        self.reset = self.create_client(Trigger, "sim/reset")


def start(ros_context, robot="drone", **overrides):
    params = {"robot": robot, "seed": SEED, "mode": "lockstep", "publish_clock": True,
              "image_width": 64, "image_height": 48, **overrides}
    probe = Probe(ros_context, robot, params.get("command_type", "twist"),
                  params.get("image_transport", "raw"))
    sim = SimNode(params, context=ros_context)
    executor = make_executor(ros_context, sim, probe)
    spin_until(executor, lambda: probe.cmd.get_subscription_count() > 0
               and all(p.get_subscription_count() > 0 for p in sim.image_pubs.values()),
               what="discovery between probe and sim")
    return sim, probe, executor


def newest(inbox):
    return max((conv.time_from_msg(m.header.stamp) for m in inbox.messages), default=-1.0)


def send(sim, probe, executor, action, command_type="twist", interface="velocity"):
    """Send one command and wait until the observation of the step it caused has arrived on
    every topic (while waiting for a command the sim repeats the last one with its old stamp)."""
    before = sim.session.clock  # the stamp of the observation the command answers
    probe.cmd.publish(conv.command_to_msg(action, sim.session.env.action_names, command_type,
                                          interface=interface, period=0.1))
    spin_until(executor, lambda: all(newest(box) > before
                                     for box in [probe.state, *probe.images.values()]),
               what="the next observation")


@pytest.fixture
def drone(ros_context):
    sim, probe, executor = start(ros_context)
    yield sim, probe, executor
    close(executor)
    sim.close()


def test_images_arrive_with_encoding_size_and_the_tick_stamp(drone):
    sim, probe, executor = drone
    send(sim, probe, executor, [1.0, 0.0, 0.0, 0.0])
    spin_until(executor, lambda: max((conv.time_from_msg(m.clock) for m in probe.clock.messages),
                                     default=0.0) > SIM_EPOCH, what="the clock of tick 1")
    stamps = []
    for c in CAMERAS:
        msg = max(probe.images[c].messages, key=lambda m: conv.time_from_msg(m.header.stamp))
        assert (msg.width, msg.height, msg.encoding, msg.step) == (64, 48, "rgb8", 64 * 3)
        assert msg.header.frame_id == f"camera_{c}"
        stamps.append(conv.time_from_msg(msg.header.stamp))
    # Every message of a tick carries the sim time of that tick: 1 step of 0.1 s after the
    # epoch (sim time starts at 1 s: a zero stamp means "unset").
    assert stamps == pytest.approx([SIM_EPOCH + 0.1] * 3)
    assert max(conv.time_from_msg(m.clock) for m in probe.clock.messages) == pytest.approx(
        SIM_EPOCH + 0.1)
    assert newest(probe.state) == pytest.approx(SIM_EPOCH + 0.1)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_images_arrive_as_image_transport_publishes_them(ros_context, fmt):
    sim, probe, executor = start(ros_context, image_transport="compressed",
                                 compressed_format=fmt)
    try:
        send(sim, probe, executor, [1.0, 0.0, 0.0, 0.0])
        msg = max(probe.images["center"].messages,
                  key=lambda m: conv.time_from_msg(m.header.stamp))
        assert msg.format == f"rgb8; {fmt} compressed bgr8"
        assert msg.header.frame_id == "camera_center"
        image = conv.image_from_msg(msg)
        truth = sim.session.obs["images"]["center"]
        if fmt == "png":
            np.testing.assert_array_equal(image, truth)
        else:
            assert image.shape == truth.shape and np.abs(image.astype(int) - truth).mean() < 8
    finally:
        close(executor)
        sim.close()


COMMAND_FORMS = [("twist", "velocity"), ("twist_stamped", "velocity"),
                 ("float64_multi_array", "velocity"), ("joint_state", "velocity"),
                 ("joint_trajectory", "velocity"), ("joint_trajectory", "position")]


@pytest.mark.parametrize("command_type,interface", COMMAND_FORMS)
def test_lockstep_advances_exactly_one_step_per_command(ros_context, command_type, interface):
    """In every command type the sim takes (a trajectory: its first point, in the field of
    command_interface) the ROS run is the ROS-free one, and expert/cmd comes in that type."""
    sim, probe, executor = start(ros_context, command_type=command_type,
                                 command_interface=interface)
    try:
        check_lockstep(sim, probe, executor, command_type, interface)
    finally:
        close(executor)
        sim.close()


def check_lockstep(sim, probe, executor, command_type, interface):
    actions = [[1.5, 0.0, 0.0, 0.2], [1.5, 0.1, 0.0, 0.2], [1.0, -0.1, 0.0, 0.0]]
    for i, action in enumerate(actions, 1):
        send(sim, probe, executor, action, command_type, interface)
        assert sim.session.steps == i
    spin_for(executor, 0.3)  # no command, "wait" policy: the sim must not move
    assert sim.session.steps == len(actions)
    spin_until(executor, lambda: len(probe.expert) >= 3, what="expert/cmd")
    names = sim.session.env.action_names
    expert = [conv.command_from_msg(m, names, interface) for m in probe.expert.messages]
    assert all(e[0] > 0 for e in expert), "the trail expert flies forward"
    if command_type == "joint_trajectory":
        (point,) = probe.expert.last.points      # one point, one control period on
        assert (point.time_from_start.sec, point.time_from_start.nanosec) == (0, 100_000_000)
    # What came over ROS is what the ROS-free sim gives for the same seed and actions.
    with make_env("drone", "trail", image_size=(64, 48)) as env:
        env.reset(SEED)
        for action in actions:
            obs, *_ = env.step(action)
    last = max(probe.images["center"].messages, key=lambda m: conv.time_from_msg(m.header.stamp))
    np.testing.assert_array_equal(conv.image_from_msg(last), obs["images"]["center"])


def test_expert_command_is_published_every_tick(drone):
    sim, probe, executor = drone
    for _ in range(3):
        send(sim, probe, executor, [1.0, 0.0, 0.0, 0.0])
    spin_until(executor, lambda: len(probe.expert) >= 3, what="expert/cmd")
    forward = [m.linear.x for m in probe.expert.messages]
    assert all(v > 0 for v in forward), "the trail expert flies forward"


def test_bad_commands_are_rejected_or_clamped_without_stepping_on_garbage(drone):
    sim, probe, executor = drone
    probe.cmd.publish(conv.command_to_msg([float("nan"), 0, 0, 0], sim.session.env.action_names,
                                          "twist"))
    spin_until(executor, lambda: sim.session.filter.counts["rejected_nonfinite"] == 1,
               what="the NaN command to be rejected")
    assert sim.session.steps == 0
    send(sim, probe, executor, [99.0, 0.0, 0.0, 0.0])
    assert sim.session.steps == 1 and sim.session.filter.counts["clamped"] == 1
    assert sim.session.latch._last[0] == sim.session.env.action_high[0]


def test_wrong_sized_array_command_is_rejected(ros_context):
    sim, probe, executor = start(ros_context, command_type="float64_multi_array")
    try:
        probe.cmd.publish(conv.Float64MultiArray(data=[1.0, 2.0]))
        spin_until(executor, lambda: sim.session.filter.counts["rejected_shape"] == 1,
                   what="the short command to be rejected")
        assert sim.session.steps == 0
        send(sim, probe, executor, [1.0, 0.0, 0.0, 0.0], "float64_multi_array")
        assert sim.session.steps == 1
    finally:
        close(executor)
        sim.close()


def test_trajectories_that_do_not_fit_are_rejected_without_stepping(ros_context):
    """An empty trajectory, one that lacks a joint, one for the other interface: no step, each
    counted; then a fitting one steps (its first point)."""
    sim, probe, executor = start(ros_context, command_type="joint_trajectory")
    names = list(sim.session.env.action_names)
    try:
        bad = [conv.JointTrajectory(joint_names=names),
               conv.command_to_msg([1.0, 0.0, 0.0], names[:3], "joint_trajectory", period=0.1),
               conv.command_to_msg([1.0, 0.0, 0.0, 0.0], names, "joint_trajectory",
                                   period=0.1, interface="position")]
        for k, msg in enumerate(bad, 1):
            probe.cmd.publish(msg)
            spin_until(executor, lambda: sim.session.filter.counts["rejected_shape"] == k,
                       what=f"bad trajectory {k} to be rejected")
        assert sim.session.steps == 0
        chunk = np.array([[1.0, 0.0, 0.0, 0.1], [9.0, 9.0, 9.0, 9.0]])
        before = sim.session.clock
        probe.cmd.publish(conv.command_to_msg(chunk, names, "joint_trajectory", period=0.1))
        spin_until(executor, lambda: newest(probe.state) > before, what="the step")
        assert sim.session.steps == 1 and sim.session.latch._last.tolist() == chunk[0].tolist()
    finally:
        close(executor)
        sim.close()


def test_episode_outcome_is_published_and_the_next_episode_starts(drone):
    sim, probe, executor = drone
    for _ in range(200):  # fly sideways off the trail
        send(sim, probe, executor, [0.5, 1.5, 0.0, 0.0])
        if sim.session.outcomes:
            break
    spin_until(executor, lambda: len(probe.outcomes) == 1, what="sim/outcome")
    outcome = json.loads(probe.outcomes.last.data)
    assert outcome["seed"] == SEED and not outcome["success"]
    assert outcome["failure"] == "trail_exit"
    assert sim.session.seed == SEED + 1 and sim.session.steps == 0


def test_reset_service_takes_the_seed_parameter(drone):
    sim, probe, executor = drone
    spin_until(executor, lambda: probe.reset.service_is_ready(), what="the reset service")
    sim.set_parameters([Parameter("seed", value=SEED + 41)])
    for expected in (SEED + 41, SEED + 42):
        future = probe.reset.call_async(Trigger.Request())
        spin_until(executor, future.done, what="the reset response")
        assert future.result().success and str(expected) in future.result().message
        assert sim.session.seed == expected


def test_arm_publishes_joint_states(ros_context):
    sim, probe, executor = start(ros_context, robot="arm")
    try:
        send(sim, probe, executor, [0.1, 0.0, 0.0])
        msg = max(probe.state.messages, key=lambda m: conv.time_from_msg(m.header.stamp))
        assert len(msg.name) == len(msg.position) == 9
        assert conv.time_from_msg(msg.header.stamp) == pytest.approx(SIM_EPOCH + 0.1)
    finally:
        close(executor)
        sim.close()


def test_parameters_mirror_the_config_with_descriptions(drone):
    sim, _, _ = drone
    import dataclasses

    for f in dataclasses.fields(SimConfig):
        assert sim.has_parameter(f.name), f.name
        descriptor = sim.describe_parameter(f.name)
        assert descriptor.description == f.metadata["help"]


def test_command_interface_is_checked():
    with pytest.raises(ValueError, match="command_interface must be one of"):
        SimConfig(command_interface="effort")


def test_unknown_robot_or_task_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid tasks: trail, bypass"):
        SimConfig(robot="drone", task="loop")
    with pytest.raises(ValueError, match="valid robots: drone, arm"):
        SimConfig(robot="boat")


def test_reach_goal_publishes_its_goal_and_takes_a_new_one_on_sim_set_goal(ros_context):
    from geometry_msgs.msg import PointStamped

    from bc_ros.nodes.sim_node import point_msg

    sim, probe, executor = start(ros_context, robot="arm", task="reach_goal")
    goals = Inbox(probe, PointStamped, "goal", COMMAND_QOS)
    hand = Inbox(probe, PointStamped, "achieved_goal", COMMAND_QOS)
    set_goal = probe.create_publisher(PointStamped, "sim/set_goal", COMMAND_QOS)
    try:
        env = sim.session.env
        spin_until(executor, lambda: goals.messages and hand.messages, what="goal topics")
        first = goals.messages[-1]
        assert first.header.frame_id == "world"
        assert first.header.stamp == probe.state.messages[-1].header.stamp   # the tick's
        np.testing.assert_allclose([first.point.x, first.point.y, first.point.z],
                                   env.goal_point())
        set_goal.publish(point_msg([3.0, 0.0, 0.1], first.header.stamp))   # out of reach
        set_goal.publish(point_msg([0.45, 0.2, 0.12], first.header.stamp))
        spin_until(executor, lambda: np.allclose(env.goal_point(), [0.45, 0.2, 0.12]),
                   what="the new goal")
        probe.cmd.publish(conv.command_to_msg([0.0, 0.0, 0.0], env.action_names, "twist"))
        spin_until(executor, lambda: goals.messages[-1].point.y == pytest.approx(0.2),
                   what="the new goal published")
    finally:
        close(executor)
        sim.close()
        for node in (sim, probe):
            node.destroy_node()


def test_pause_freezes_steps_messages_and_clock_until_resumed(ros_context):
    from std_srvs.srv import SetBool

    sim, probe, executor = start(ros_context, mode="realtime", rate_hz=50.0)
    try:
        pause = probe.create_client(SetBool, "sim/pause")
        spin_until(executor, pause.service_is_ready, what="the pause service")

        def call(data):
            future = pause.call_async(SetBool.Request(data=data))
            spin_until(executor, future.done, what="the pause response")
            return future.result()

        spin_until(executor, lambda: sim.session.steps >= 3, what="a few real-time steps")
        assert call(True).success
        steps, clocks, images = sim.session.steps, len(probe.clock), len(probe.images["center"])
        spin_for(executor, 0.5)        # 25 periods of the step timer
        assert sim.session.steps == steps
        assert len(probe.clock) == clocks and len(probe.images["center"]) == images
        probe.cmd.publish(conv.command_to_msg([1.0, 0.0, 0.0, 0.0], sim.session.env.action_names,
                                              "twist"))
        spin_for(executor, 0.2)
        assert sim.session.steps == steps          # a command while paused steps nothing
        assert call(True).message == "paused already"
        stalled_at = max(conv.time_from_msg(m.clock) for m in probe.clock.messages)
        assert call(False).message == "running"
        spin_until(executor, lambda: sim.session.steps >= steps + 3, what="steps after resuming")
        # the sim clock goes on from where it stood, a control period a step, with no jump
        ticks = sorted({conv.time_from_msg(m.clock) for m in probe.clock.messages[clocks:]})
        assert ticks[0] == pytest.approx(stalled_at)
        assert np.allclose(np.diff(ticks), sim.session.env.control_dt)
    finally:
        close(executor)
        sim.close()
