"""Round trips and rejections of the message <-> numpy conversions (no node needed)."""

import math

import numpy as np
import pytest

pytest.importorskip("rclpy")

from bc_ros.nodes import conversions as conv  # noqa: E402

DRONE = ("vx", "vy", "vz", "yaw_rate")


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_image_round_trip_is_exact(rgb, encoding):
    msg = conv.image_to_msg(rgb, conv.time_to_msg(12.5), "camera_center", encoding)
    assert (msg.width, msg.height, msg.step, msg.encoding) == (64, 48, 192, encoding)
    assert msg.header.stamp.sec == 12 and msg.header.stamp.nanosec == 500_000_000
    np.testing.assert_array_equal(conv.image_from_msg(msg), rgb)


def test_mono_and_alpha_images_read_as_rgb(rgb):
    mono = conv.image_from_msg(conv.image_to_msg(rgb, conv.time_to_msg(0), encoding="mono8"))
    assert mono.shape == rgb.shape and np.all(mono[..., 0] == mono[..., 2])
    bgra = np.concatenate([rgb[:, :, ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], 2)
    msg = conv.Image(height=48, width=64, encoding="bgra8", step=64 * 4, data=bgra.tobytes())
    np.testing.assert_array_equal(conv.image_from_msg(msg), rgb)


def test_padded_rows_are_handled(rgb):
    padded = np.zeros((48, 200), np.uint8)
    padded[:, :192] = rgb.reshape(48, 192)
    msg = conv.Image(height=48, width=64, encoding="rgb8", step=200, data=padded.tobytes())
    np.testing.assert_array_equal(conv.image_from_msg(msg), rgb)


def test_bad_images_are_rejected_with_what_was_expected(rgb):
    msg = conv.image_to_msg(rgb, conv.time_to_msg(0))
    msg.encoding = "16UC1"
    with pytest.raises(ValueError, match="16UC1.*expected one of"):
        conv.image_from_msg(msg)
    msg = conv.image_to_msg(rgb, conv.time_to_msg(0))
    msg.data = msg.data[:-10]
    with pytest.raises(ValueError, match="expected height\\*step"):
        conv.image_from_msg(msg)
    with pytest.raises(ValueError, match="uint8"):
        conv.image_to_msg(rgb.astype(np.float32), conv.time_to_msg(0))


def test_compressed_images_read_as_rgb_png_exactly_jpeg_closely(rgb):
    smooth = np.zeros((48, 64, 3), np.uint8)
    smooth[..., 0] = np.arange(64) * 4
    smooth[..., 1] = np.arange(48)[:, None] * 5
    msg = conv.compressed_image_to_msg(rgb, conv.time_to_msg(2.0), "cam", fmt="png")
    assert msg.format == "rgb8; png compressed bgr8" and msg.header.frame_id == "cam"
    np.testing.assert_array_equal(conv.image_from_msg(msg), rgb)
    msg = conv.compressed_image_to_msg(smooth, conv.time_to_msg(2.0), fmt="jpeg", quality=95)
    assert np.abs(conv.image_from_msg(msg).astype(int) - smooth).mean() < 2.0
    # the format strings drivers write: image_transport's, or only the codec
    for fmt in ("jpeg", "JPEG", "bgr8; jpeg compressed bgr8"):
        msg.format = fmt
        assert conv.image_from_msg(msg).shape == (48, 64, 3)


def test_bad_compressed_images_are_rejected_with_what_was_wrong(rgb):
    def jpeg():
        return conv.compressed_image_to_msg(rgb, conv.time_to_msg(0), fmt="jpeg")

    cases = {"truncated": lambda m: setattr(m, "data", bytes(m.data)[: len(m.data) // 2]),
             "garbage": lambda m: setattr(m, "data", b"\xff\xd8" + bytes(200) + b"\xff\xd9"),
             "not a jpeg": lambda m: setattr(m, "data", bytes(m.data)[4:]),
             "empty": lambda m: setattr(m, "data", b"")}
    for name, damage in cases.items():
        msg = jpeg()
        damage(msg)
        with pytest.raises(ValueError) as e:
            conv.image_from_msg(msg)
        assert e.value.kind == "decode", name
    msg = jpeg()
    msg.format = "16UC1; compressedDepth png"
    with pytest.raises(ValueError, match="depth") as e:
        conv.image_from_msg(msg)
    assert e.value.kind == "encoding"
    msg.format = "h264"
    with pytest.raises(ValueError, match="expected jpeg or png"):
        conv.image_from_msg(msg)
    with pytest.raises(ValueError, match="jpeg.*png"):
        conv.compressed_image_to_msg(rgb, conv.time_to_msg(0), fmt="webp")
    with pytest.raises(ValueError, match="image transport 'theora'"):
        conv.camera_topic("center", "theora")
    assert conv.camera_topic("left", "compressed") == "camera/left/image_raw/compressed"


ARM = ("vx", "vy", "vz", "gripper")
TYPES = ["twist", "twist_stamped", "float64_multi_array", "joint_state", "joint_trajectory"]
POSITION_TYPES = ["float64_multi_array", "joint_state", "joint_trajectory"]


@pytest.mark.parametrize("command_type", TYPES)
def test_command_round_trip(command_type):
    action = np.array([1.25, -0.5, 0.1, 0.75])
    msg = conv.command_to_msg(action, DRONE, command_type, conv.time_to_msg(3.0), period=0.1)
    assert isinstance(msg, conv.command_class(command_type))
    np.testing.assert_array_equal(conv.command_from_msg(msg, DRONE), action)


@pytest.mark.parametrize("command_type", POSITION_TYPES)
def test_position_commands_round_trip_in_their_field(command_type):
    action = np.array([0.4, -0.3, 0.2, 0.04])
    msg = conv.command_to_msg(action, ARM, command_type, period=0.1, interface="position")
    np.testing.assert_array_equal(conv.command_from_msg(msg, ARM, "position"), action)
    if command_type == "joint_state":
        assert list(msg.position) == action.tolist() and len(msg.velocity) == 0
    if command_type == "joint_trajectory":
        assert list(msg.points[0].positions) == action.tolist()
        assert len(msg.points[0].velocities) == 0


def test_joint_trajectory_for_joint_trajectory_controller():
    """joint_names = action names, one point at one control period, velocities only (the
    velocity interface), and a zero stamp: the controller starts it on receipt."""
    msg = conv.command_to_msg([0.1, 0.2, 0.3, 1.0], ARM, "joint_trajectory",
                              conv.time_to_msg(5.0), period=0.05)
    assert list(msg.joint_names) == list(ARM) and len(msg.points) == 1
    (p,) = msg.points
    assert list(p.velocities) == [0.1, 0.2, 0.3, 1.0]
    assert len(p.positions) == len(p.accelerations) == len(p.effort) == 0
    assert (p.time_from_start.sec, p.time_from_start.nanosec) == (0, 50_000_000)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (0, 0)


@pytest.mark.parametrize("interface,field", [("velocity", "velocities"),
                                             ("position", "positions")])
def test_a_chunk_is_one_point_per_action_k_periods_on(interface, field):
    chunk = np.array([[0.1, 0.0, 0.0, 0.0], [0.2, 0.0, 0.0, 0.0], [0.3, 0.0, 0.0, 1.0]])
    msg = conv.command_to_msg(chunk, ARM, "joint_trajectory", interface=interface, period=0.4)
    assert [list(getattr(p, field)) for p in msg.points] == chunk.tolist()
    assert [(p.time_from_start.sec, p.time_from_start.nanosec) for p in msg.points] == [
        (0, 400_000_000), (0, 800_000_000), (1, 200_000_000)]
    # the reader takes the first point: the command now
    np.testing.assert_array_equal(conv.command_from_msg(msg, ARM, interface), chunk[0])


def test_trajectory_and_chunk_misuse_is_named():
    with pytest.raises(ValueError, match="needs the control period .*period=None"):
        conv.command_to_msg([0.0] * 4, ARM, "joint_trajectory")
    with pytest.raises(ValueError, match="can only go out as a joint_trajectory, not "
                                         "float64_multi_array"):
        conv.command_to_msg(np.zeros((2, 4)), ARM, "float64_multi_array")
    with pytest.raises(ValueError, match=r"shape \(N >= 1, 4\).*got \(2, 3\)"):
        conv.command_to_msg(np.zeros((2, 3)), ARM, "joint_trajectory", period=0.1)
    with pytest.raises(ValueError, match="carries velocities, not positions"):
        conv.command_to_msg([0.0] * 4, DRONE, "twist", interface="position")


def test_float64_multi_array_is_the_plain_vector_forward_command_controller_takes():
    """forward_command_controller reads ``data`` only, one value per joint in its order; the
    layout is a label."""
    msg = conv.command_to_msg([0.5, -0.25, 0.0, 0.04], ARM, "float64_multi_array",
                              interface="position")
    assert list(msg.data) == [0.5, -0.25, 0.0, 0.04] and msg.layout.data_offset == 0


@pytest.mark.parametrize("command_type", TYPES)
def test_the_velocity_stop_goes_out_in_every_type(command_type):
    """The robot's stop command (the zero vector clipped to its limits: here a drone whose
    lowest vz is 0.1) is a normal command of each type."""
    from bc_ros.core.commands import StopCommand
    stop = StopCommand(np.clip(np.zeros(4), [-1, -1, 0.1, -1], [1, 1, 1, 1]), "velocity")
    msg = conv.command_to_msg(stop.command(), DRONE, command_type, period=0.1)
    np.testing.assert_array_equal(conv.command_from_msg(msg, DRONE), [0.0, 0.0, 0.1, 0.0])


@pytest.mark.parametrize("command_type", POSITION_TYPES)
def test_the_position_stop_holds_the_last_position_in_every_type(command_type):
    from bc_ros.core.commands import StopCommand
    stop = StopCommand(np.zeros(4), "position")
    assert stop.command() is None                       # nothing sent yet: nothing to hold
    chunk = np.array([[0.4, 0.1, 0.3, 0.04], [0.5, 0.1, 0.3, 0.04]])
    stop.sent(chunk if command_type == "joint_trajectory" else chunk[0])
    msg = conv.command_to_msg(stop.command(), ARM, command_type, period=0.1,
                              interface="position")
    np.testing.assert_array_equal(conv.command_from_msg(msg, ARM, "position"), chunk[0])
    if command_type == "joint_trajectory":
        assert len(msg.points) == 1                     # the hold only, not the rest of a plan


def test_twist_fields_follow_ros_conventions():
    msg = conv.command_to_msg([1.0, 2.0, 3.0, 4.0], DRONE, "twist")
    assert (msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.z) == (1.0, 2.0, 3.0, 4.0)


def test_wrong_command_forms_are_named():
    with pytest.raises(ValueError, match="3 values, expected 4"):
        conv.command_from_msg(conv.Float64MultiArray(data=[1.0, 2.0, 3.0]), DRONE)
    with pytest.raises(ValueError, match="lacks \\['yaw_rate'\\]"):
        conv.command_from_msg(conv.JointState(name=["vx", "vy", "vz"], velocity=[0.0] * 3),
                              DRONE)
    with pytest.raises(ValueError, match="cannot carry \\['gripper'\\]"):
        conv.command_to_msg([0, 0, 0, 1], ("vx", "vy", "vz", "gripper"), "twist")
    with pytest.raises(ValueError, match="valid types: .*joint_trajectory"):
        conv.command_class("pose")


def test_odometry_round_trip():
    yaw = 0.7
    odom = {"position": [1.0, -2.0, 1.2], "orientation_xyzw": [0, 0, math.sin(yaw / 2),
                                                               math.cos(yaw / 2)],
            "linear_body": [1.5, 0.1, 0.0], "angular_body": [0, 0, 0.3]}
    state = conv.odometry_from_msg(conv.odometry_to_msg(odom, conv.time_to_msg(1.0)))
    np.testing.assert_allclose(state, [1.0, -2.0, 1.2, yaw, 1.5, 0.1, 0.0, 0.3], atol=1e-12)


def test_joint_state_round_trip_and_missing_joint():
    joints = {"name": ["a", "b", "c"], "position": [0.1, 0.2, 0.3], "velocity": [0, 0, 0]}
    msg = conv.joint_state_to_msg(joints, conv.time_to_msg(0))
    np.testing.assert_array_equal(conv.joint_state_from_msg(msg, ["c", "a"]), [0.3, 0.1])
    with pytest.raises(ValueError, match="lacks joints \\['d'\\]"):
        conv.joint_state_from_msg(msg, ["d"])


# ---- any bytes a camera or a network could deliver: an ImageError, never a crash -------------
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), fmt=st.sampled_from(
    ["jpeg", "png", "rgb8; jpeg compressed bgr8", "h264", "", "16UC1; compressedDepth"]),
    keep=st.integers(0, 2000))
def test_arbitrary_compressed_data_is_refused_cleanly(data, fmt, keep):
    good = conv.compressed_image_to_msg(np.full((16, 16, 3), 90, np.uint8), conv.time_to_msg(0),
                                        fmt="png" if "png" in fmt else "jpeg")
    for payload in (data, bytes(good.data)[:keep] + data[:50]):
        msg = conv.CompressedImage(format=fmt, data=payload)
        try:
            image = conv.image_from_msg(msg)
        except ValueError as e:
            assert e.kind in ("encoding", "decode")
        else:
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_state_messages_of_every_type_read_as_the_recorder_stores_them():
    pose = conv.PoseStamped()
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = 1.0, 2.0, 3.0
    pose.pose.orientation.z, pose.pose.orientation.w = math.sin(0.25), math.cos(0.25)
    np.testing.assert_allclose(conv.state_from_msg(pose, "pose_stamped"),
                               [1, 2, 3, 0, 0, math.sin(0.25), math.cos(0.25)])
    array = conv.Float64MultiArray(data=[0.5, -0.5, 2.0])
    np.testing.assert_allclose(conv.state_from_msg(array, "float64_multi_array", size=3),
                               [0.5, -0.5, 2.0])
    with pytest.raises(ValueError, match="3 values, expected 4"):
        conv.state_from_msg(array, "float64_multi_array", size=4)
    joints = conv.JointState(name=["b", "a"], position=[2.0, 1.0])
    np.testing.assert_allclose(conv.state_from_msg(joints, "joint_state", ["a", "b"]), [1, 2])
    np.testing.assert_allclose(conv.state_from_msg(joints, "joint_state"), [2, 1])
    with pytest.raises(ValueError, match="lacks joints \\['c'\\]"):
        conv.state_from_msg(joints, "joint_state", ["a", "c"])
    with pytest.raises(ValueError, match="unknown state type 'imu'"):
        conv.state_from_msg(joints, "imu")
    assert set(conv.STATE_CLASSES) == set(conv.STATE_MESSAGES)
