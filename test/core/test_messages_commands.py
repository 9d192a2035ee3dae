"""The ROS-free command readers (``bc_ros.core.messages``) on rosbags' message objects, as the
rosbag2 import meets them: joint_trajectory in both interfaces, names in any order, and the
errors a user gets for a trajectory that does not fit."""

import math

import numpy as np
import pytest

pytest.importorskip("rosbags")

from rosbags.typesys import Stores, get_typestore  # noqa: E402

from bc_ros.core import messages  # noqa: E402

M = get_typestore(getattr(Stores, "ROS2_KILTED", Stores.LATEST)).types
ARM = ["vx", "vy", "vz", "gripper"]


def duration(seconds):
    ns = int(round(seconds * 1e9))
    return M["builtin_interfaces/msg/Duration"](sec=ns // 10**9, nanosec=ns % 10**9)


def point(positions=(), velocities=(), t=0.1):
    return M["trajectory_msgs/msg/JointTrajectoryPoint"](
        positions=np.asarray(positions, dtype=np.float64),
        velocities=np.asarray(velocities, dtype=np.float64),
        accelerations=np.zeros(0), effort=np.zeros(0), time_from_start=duration(t))


def trajectory(names, *points):
    stamp = M["builtin_interfaces/msg/Time"](sec=0, nanosec=0)
    return M["trajectory_msgs/msg/JointTrajectory"](
        header=M["std_msgs/msg/Header"](stamp=stamp, frame_id=""), joint_names=list(names),
        points=list(points))


def test_joint_trajectory_is_a_command_type():
    assert messages.COMMAND_TYPES["joint_trajectory"] == "trajectory_msgs/msg/JointTrajectory"
    assert messages.message_type(trajectory(ARM)) == "trajectory_msgs/msg/JointTrajectory"


@pytest.mark.parametrize("interface,field", [("velocity", "velocities"),
                                             ("position", "positions")])
def test_first_point_of_the_interface_is_the_action(interface, field):
    """The first point is the command now; later points (a chunk) are not read."""
    first, later = [0.1, -0.2, 0.3, 1.0], [9.0, 9.0, 9.0, 9.0]
    msg = trajectory(ARM, point(**{field: first}), point(**{field: later}, t=0.2))
    np.testing.assert_array_equal(messages.command_from_msg(msg, ARM, interface), first)


def test_joint_names_in_any_order_and_extra_joints():
    msg = trajectory(["gripper", "extra", "vz", "vy", "vx"],
                     point(velocities=[1.0, 7.0, 0.3, 0.2, 0.1]))
    np.testing.assert_array_equal(messages.command_from_msg(msg, ARM), [0.1, 0.2, 0.3, 1.0])


def test_missing_joint_names_expected_and_got():
    msg = trajectory(["vx", "vy", "vz"], point(velocities=[0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match=r"lacks \['gripper'\]; expected names "
                                         r"\['vx', 'vy', 'vz', 'gripper'\], got "
                                         r"\['vx', 'vy', 'vz'\]"):
        messages.command_from_msg(msg, ARM)


def test_empty_trajectory_is_refused_clearly():
    with pytest.raises(ValueError, match="JointTrajectory command has no points"):
        messages.command_from_msg(trajectory(ARM), ARM)


def test_point_of_the_other_interface_is_refused_naming_both():
    msg = trajectory(ARM, point(positions=[0.0] * 4))
    with pytest.raises(ValueError, match="first point has no velocities .*velocity.*it has "
                                         "positions"):
        messages.command_from_msg(msg, ARM, "velocity")
    with pytest.raises(ValueError, match="has neither"):
        messages.command_from_msg(trajectory(ARM, point()), ARM, "position")


def test_values_and_names_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="4 names but 3 velocities"):
        messages.command_from_msg(trajectory(ARM, point(velocities=[0.0] * 3)), ARM)


def test_nan_passes_through_to_the_filter():
    """As for the other types: the caller's CommandFilter counts and rejects it."""
    msg = trajectory(ARM, point(velocities=[0.0, math.nan, 0.0, 0.0]))
    out = messages.command_from_msg(msg, ARM)
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2, 3]]).all()


def test_joint_state_reads_the_field_of_its_interface():
    msg = M["sensor_msgs/msg/JointState"](
        header=trajectory(ARM).header, name=ARM, position=np.array([1.0, 2.0, 3.0, 4.0]),
        velocity=np.array([0.1, 0.2, 0.3, 0.4]), effort=np.zeros(0))
    np.testing.assert_array_equal(messages.command_from_msg(msg, ARM), [0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(messages.command_from_msg(msg, ARM, "position"),
                                  [1.0, 2.0, 3.0, 4.0])


def test_command_type_and_interface_checks():
    messages.check_command_type("joint_trajectory", ARM, "position")
    messages.check_command_type("float64_multi_array", ARM, "position")
    with pytest.raises(ValueError, match="twist_stamped command carries velocities, not "
                                         "positions; use float64_multi_array, joint_state or "
                                         "joint_trajectory"):
        messages.check_command_type("twist_stamped", ["vx"], "position")
    with pytest.raises(ValueError, match="unknown command interface 'effort'; valid "
                                         "interfaces: velocity, position"):
        messages.check_command_type("joint_trajectory", ARM, "effort")
    with pytest.raises(ValueError, match="valid types: .*joint_trajectory"):
        messages.check_command_type("trajectory", ARM)
    with pytest.raises(ValueError, match="cannot carry \\['gripper'\\]; use .*joint_trajectory"):
        messages.check_command_type("twist", ARM)
