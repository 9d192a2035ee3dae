"""teleop_node in-process: a joystick with the deadman held drives expert/cmd and expert/engaged."""

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import Joy  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402

from bc_ros.nodes import conversions as conv  # noqa: E402
from bc_ros.nodes.runtime import COMMAND_QOS, SENSOR_QOS  # noqa: E402
from bc_ros.nodes.teleop_node import TeleopNode  # noqa: E402
from test.nodes.helpers import Inbox, close, make_executor, spin_until  # noqa: E402


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def teleop(ros_context):
    clock = FakeClock()
    node = TeleopNode({"rate_hz": 50.0}, clock=clock, read_terminal=False, context=ros_context)
    probe = Node("probe", context=ros_context)
    cmds = Inbox(probe, conv.Twist, "expert/cmd", COMMAND_QOS)
    engaged = Inbox(probe, Bool, "expert/engaged", COMMAND_QOS)
    joy = probe.create_publisher(Joy, "joy", SENSOR_QOS)
    executor = make_executor(ros_context, node, probe)
    spin_until(executor, lambda: joy.get_subscription_count() > 0 and len(engaged) > 0,
               what="teleop discovery")
    yield node, clock, joy, cmds, engaged, executor
    close(executor)


def test_joystick_with_deadman_drives_and_release_stops(teleop):
    node, clock, joy, cmds, engaged, executor = teleop
    assert engaged.last.data is False
    joy.publish(Joy(axes=[0.0, 1.0, 0.0, 0.5, 0.0], buttons=[0, 0, 0, 0, 1]))
    spin_until(executor, lambda: engaged.last.data is True, what="engaged")
    spin_until(executor, lambda: cmds.last.linear.x == pytest.approx(1.5), what="forward cmd")
    assert cmds.last.angular.z == pytest.approx(0.5)
    joy.publish(Joy(axes=[0.0, 1.0, 0.0, 0.5, 0.0], buttons=[0, 0, 0, 0, 0]))
    spin_until(executor, lambda: engaged.last.data is False, what="released")
    spin_until(executor, lambda: cmds.last.linear.x == 0.0, what="stop command")


def test_silent_joystick_disengages(teleop):
    node, clock, joy, cmds, engaged, executor = teleop
    joy.publish(Joy(axes=[0.0, 1.0, 0.0, 0.0, 0.0], buttons=[0, 0, 0, 0, 1]))
    spin_until(executor, lambda: engaged.last.data is True, what="engaged")
    clock.t += 1.0  # longer than joy_timeout without a message
    spin_until(executor, lambda: engaged.last.data is False, what="timeout disengage")
    assert node.current()[0].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_keys_engage_and_drive(teleop):
    node, clock, joy, cmds, engaged, executor = teleop
    node.press(" ")
    node.press("w")
    spin_until(executor, lambda: engaged.last.data and cmds.last.linear.x > 0, what="key drive")
    clock.t += 1.0  # key_hold over
    spin_until(executor, lambda: cmds.last.linear.x == 0.0, what="key released")
    command, engaged = node.current()
    assert engaged and not command.any()  # still engaged (space toggles), but standing still


def test_another_publisher_on_expert_cmd_is_counted_and_warned(teleop):
    """A second expert (a sim's scripted one) on expert/cmd would be recorded interleaved with
    the human: the teleop node notices it (the count, and a warning in its log)."""
    node, _clock, _joy, _cmds, _engaged, executor = teleop
    assert node.other_experts == 0
    other = node.create_publisher(conv.Twist, "expert/cmd", COMMAND_QOS)  # stands in for a sim
    spin_until(executor, lambda: node.count_publishers("expert/cmd") == 2, what="discovery")
    node._check_other_experts()
    assert node.other_experts == 1
    node.destroy_publisher(other)
    spin_until(executor, lambda: node.count_publishers("expert/cmd") == 1, what="the end")
    node._check_other_experts()
    assert node.other_experts == 0


def test_joint_trajectory_teleop_sends_velocity_points_one_period_on(ros_context):
    """Sticks command rates: a trajectory of one velocity point at 1 / rate_hz; released, the
    zero velocities (the stop)."""
    node = TeleopNode({"rate_hz": 50.0, "command_type": "joint_trajectory"}, clock=FakeClock(),
                      read_terminal=False, context=ros_context)
    probe = Node("probe", context=ros_context)
    cmds = Inbox(probe, conv.JointTrajectory, "expert/cmd", COMMAND_QOS)
    joy = probe.create_publisher(Joy, "joy", SENSOR_QOS)
    executor = make_executor(ros_context, node, probe)
    try:
        spin_until(executor, lambda: joy.get_subscription_count() > 0 and len(cmds) > 0,
                   what="teleop discovery")
        names = node.config.action_names
        assert conv.command_from_msg(cmds.last, names).tolist() == [0.0] * 4
        joy.publish(Joy(axes=[0.0, 1.0, 0.0, 0.5, 0.0], buttons=[0, 0, 0, 0, 1]))
        spin_until(executor, lambda: conv.command_from_msg(cmds.last, names)[0] == 1.5,
                   what="forward cmd")
        (point,) = cmds.last.points
        assert list(point.velocities) == [1.5, 0.0, 0.0, 0.5] and len(point.positions) == 0
        assert (point.time_from_start.sec, point.time_from_start.nanosec) == (0, 20_000_000)
    finally:
        close(executor)
