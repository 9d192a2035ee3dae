"""ROS messages read into arrays, without ROS: the same functions serve rclpy's message objects
(the nodes, through ``bc_ros.nodes.conversions``) and ``rosbags``' (``bc-ros dataset import``,
where no ROS install is needed). They read fields by name and tell message types apart by their
ROS type name (``message_type``), never by an rclpy class.

Building messages needs rclpy's classes, so that half stays in ``bc_ros.nodes.conversions``.
"""

from __future__ import annotations

import numpy as np

from bc_ros.core.geometry import yaw_from_quaternion

# encoding -> channels. Only encodings with a lossless conversion to rgb8 are listed.
IMAGE_ENCODINGS = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4}

# Camera transports as image_transport names them: the topic's suffix after the base topic
# (camera/<name>/image_raw) and its message type. "compressed" is image_transport's compressed
# plugin (JPEG or PNG in sensor_msgs/CompressedImage).
IMAGE_TRANSPORTS = {"raw": ("", "sensor_msgs/msg/Image"),
                    "compressed": ("/compressed", "sensor_msgs/msg/CompressedImage")}
COMPRESSED_FORMATS = ("jpeg", "png")


def camera_topic(camera: str, transport: str = "raw") -> str:
    """The topic of ``camera`` in ``transport``: camera/<camera>/image_raw[/compressed]."""
    check_image_transport(transport)
    return f"camera/{camera}/image_raw{IMAGE_TRANSPORTS[transport][0]}"


def check_image_transport(transport: str) -> None:
    if transport not in IMAGE_TRANSPORTS:
        raise ValueError(f"unknown image transport {transport!r}; expected one of "
                         f"{', '.join(IMAGE_TRANSPORTS)} (image_transport's plugin names)")


# action name -> (Twist part, axis)
TWIST_FIELDS = {
    "vx": ("linear", "x"), "vy": ("linear", "y"), "vz": ("linear", "z"),
    "roll_rate": ("angular", "x"), "pitch_rate": ("angular", "y"), "yaw_rate": ("angular", "z"),
}

# command_type parameter -> ROS message type. What each is for:
#   twist                geometry_msgs/Twist: cmd_vel of Humble-era drivers (diff_drive_controller
#                        before Jazzy, most drones and bases).
#   twist_stamped        geometry_msgs/TwistStamped: cmd_vel from Jazzy on (ros2_control's
#                        diff_drive_controller subscribes only to it there; Humble's takes Twist
#                        unless use_stamped_vel).
#   float64_multi_array  std_msgs/Float64MultiArray: ros2_control's forward_command_controller
#                        family (position_controllers/JointGroupPositionController,
#                        velocity_controllers/JointGroupVelocityController): ``data`` is the
#                        action vector in ``action_names`` order (the controller's ``joints``
#                        order), nothing else (the layout only labels it).
#   joint_state          sensor_msgs/JointState: ``name`` = action names, the values in
#                        ``velocity`` or ``position`` (command_interface).
#   joint_trajectory     trajectory_msgs/JointTrajectory: ros2_control's
#                        joint_trajectory_controller (its ~/joint_trajectory topic):
#                        ``joint_names`` = action names; point k (k = 1, 2, ...) at
#                        ``time_from_start`` k control periods, the values in ``velocities`` or
#                        ``positions`` (command_interface); one point, or a policy's chunk.
COMMAND_TYPES = {
    "twist": "geometry_msgs/msg/Twist",
    "twist_stamped": "geometry_msgs/msg/TwistStamped",
    "float64_multi_array": "std_msgs/msg/Float64MultiArray",
    "joint_state": "sensor_msgs/msg/JointState",
    "joint_trajectory": "trajectory_msgs/msg/JointTrajectory",
}

# command_interface parameter: what the action values are, so which field of a JointState or a
# JointTrajectoryPoint carries them (JointState: ``velocity`` | ``position``; a trajectory point:
# ``velocities`` | ``positions``). Twist types carry velocities only; a Float64MultiArray carries
# whatever its controller commands (the interface only changes what "stop" means: see
# bc_ros.core.commands.StopCommand).
COMMAND_INTERFACES = ("velocity", "position")
JOINT_STATE_FIELDS = {"velocity": "velocity", "position": "position"}
TRAJECTORY_FIELDS = {"velocity": "velocities", "position": "positions"}


def message_type(msg) -> str:
    """``pkg/msg/Name`` of an rclpy or a rosbags message object."""
    name = getattr(msg, "__msgtype__", None)          # rosbags
    if name:
        return name
    cls = type(msg)                                   # rclpy: geometry_msgs.msg._twist.Twist
    return f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"


def time_from_msg(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def header_stamp(msg) -> float | None:
    """The header stamp in seconds; None for a message without a header."""
    header = getattr(msg, "header", None)
    return None if header is None else time_from_msg(header.stamp)


class ImageError(ValueError):
    """An image message that cannot be read; ``kind`` says why: ``"encoding"`` (one this
    package does not convert), ``"data_length"`` (sizes, step and data that disagree) or
    ``"decode"`` (compressed data that is corrupt or truncated)."""

    def __init__(self, kind: str, text: str):
        super().__init__(text)
        self.kind = kind


def image_from_msg(msg) -> np.ndarray:
    """sensor_msgs/Image or CompressedImage -> uint8 (H, W, 3) rgb.

    Image: rgb8, bgr8, mono8, rgba8, bgra8 (``raw_image_from_msg``); CompressedImage: JPEG or
    PNG (``compressed_image_from_msg``).
    """
    if message_type(msg) == IMAGE_TRANSPORTS["compressed"][1]:
        return compressed_image_from_msg(msg)
    return raw_image_from_msg(msg)


# The bytes every complete file of the format ends with: a JPEG's End Of Image marker (a
# decoder fills the missing rows of a truncated JPEG with grey and only warns), a PNG's IEND
# chunk with its CRC.
_FORMAT_END = {"jpeg": b"\xff\xd9", "png": b"IEND\xaeB`\x82"}
_FORMAT_START = {"jpeg": b"\xff\xd8", "png": b"\x89PNG"}


def compressed_format(fmt: str) -> str:
    """``jpeg`` or ``png`` from a CompressedImage ``format`` field. image_transport writes
    ``"<encoding>; jpeg compressed <encoding>"`` (older drivers just ``jpeg``); its
    compressedDepth plugin and other codecs are refused."""
    text = fmt.lower()
    if "compresseddepth" in text.replace(" ", ""):
        raise ImageError("encoding", f"compressed depth images are not supported (format "
                                     f"{fmt!r}); expected jpeg or png colour images")
    for name, aliases in (("jpeg", ("jpeg", "jpg")), ("png", ("png",))):
        if any(a in text for a in aliases):
            return name
    raise ImageError("encoding", f"unsupported compressed image format {fmt!r}; expected jpeg "
                                 f"or png (image_transport's compressed plugin)")


def compressed_image_from_msg(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG or PNG) -> uint8 (H, W, 3) rgb.

    Data that is not a complete JPEG/PNG (corrupt, truncated, another codec than ``format``
    says) raises ``ImageError`` with kind ``"decode"``: a truncated JPEG would otherwise decode
    into an image with grey rows at the bottom."""
    import cv2        # heavy; only the nodes and imports that see compressed images load it

    fmt = compressed_format(msg.format)
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if not data[:8].tobytes().startswith(_FORMAT_START[fmt]):
        raise ImageError("decode", f"compressed image data ({data.size} bytes) does not start "
                                   f"like a {fmt} file (format {msg.format!r})")
    # A JPEG may carry a few padding bytes after its End Of Image marker.
    if _FORMAT_END[fmt] not in data[-16:].tobytes():
        raise ImageError("decode", f"compressed image data ({data.size} bytes) is truncated: no "
                                   f"{fmt} end marker")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageError("decode", f"compressed image data ({data.size} bytes) does not decode "
                                   f"as {fmt}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def raw_image_from_msg(msg) -> np.ndarray:
    """sensor_msgs/Image -> uint8 (H, W, 3) rgb. Accepts rgb8, bgr8, mono8, rgba8, bgra8.

    Padded rows (``step`` larger than width * channels) are handled; anything else (16-bit,
    Bayer, YUV, a data length that does not match) raises ``ImageError`` (a ValueError) saying
    what was expected.
    An rgb8 image without padding is returned as a read-only view of the message's buffer.
    """
    if msg.encoding not in IMAGE_ENCODINGS:
        raise ImageError("encoding", f"unsupported image encoding {msg.encoding!r}; expected "
                                     f"one of {', '.join(IMAGE_ENCODINGS)}")
    channels = IMAGE_ENCODINGS[msg.encoding]
    h, w, step = msg.height, msg.width, msg.step
    if h == 0 or w == 0:
        raise ImageError("data_length", f"image has zero size: height={h} width={w}")
    if step < w * channels:
        raise ImageError("data_length", f"image step {step} is smaller than width*channels = "
                                        f"{w * channels}")
    buf = np.frombuffer(msg.data, dtype=np.uint8)   # array.array (rclpy) or ndarray (rosbags)
    if buf.size != h * step:
        raise ImageError("data_length", f"image data has {buf.size} bytes, expected "
                                        f"height*step = {h}*{step} = {h * step}")
    rows = buf.reshape(h, step)[:, : w * channels].reshape(h, w, channels)
    if msg.encoding == "rgb8":
        out = rows
    elif msg.encoding == "bgr8":
        out = rows[:, :, ::-1]
    elif msg.encoding == "mono8":
        out = np.repeat(rows, 3, axis=2)
    elif msg.encoding == "rgba8":
        out = rows[:, :, :3]
    else:  # bgra8
        out = rows[:, :, 2::-1]
    return np.ascontiguousarray(out)


def check_command_type(command_type: str, action_names, interface: str = "velocity") -> None:
    """Raise ValueError if ``command_type`` or ``interface`` is unknown, or the type cannot carry
    every one of ``action_names`` as ``interface`` values."""
    if command_type not in COMMAND_TYPES:
        raise ValueError(f"unknown command type {command_type!r}; valid types: "
                         f"{', '.join(COMMAND_TYPES)}")
    if interface not in COMMAND_INTERFACES:
        raise ValueError(f"unknown command interface {interface!r}; valid interfaces: "
                         f"{', '.join(COMMAND_INTERFACES)}")
    if command_type in ("twist", "twist_stamped"):
        if interface != "velocity":
            raise ValueError(f"a {command_type} command carries velocities, not {interface}s; "
                             f"use float64_multi_array, joint_state or joint_trajectory for "
                             f"{interface} commands")
        missing = [n for n in action_names if n not in TWIST_FIELDS]
        if missing:
            raise ValueError(
                f"a {command_type} command cannot carry {missing}; use float64_multi_array, "
                f"joint_state or joint_trajectory for actions {list(action_names)}")


def _other(interface: str) -> str:
    return "position" if interface == "velocity" else "velocity"


def _by_name(kind: str, names, values, action_names, what: str) -> np.ndarray:
    """``values`` laid out by ``names`` -> the action vector in ``action_names`` order."""
    if len(values) != len(names):
        raise ValueError(f"{kind} command has {len(names)} names but {len(values)} {what}")
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in action_names if n not in index]
    if missing:
        raise ValueError(f"{kind} command lacks {missing}; expected names "
                         f"{list(action_names)}, got {list(names)}")
    return np.array([values[index[n]] for n in action_names], dtype=np.float64)


def command_from_msg(msg, action_names, interface: str = "velocity") -> np.ndarray:
    """A Twist, TwistStamped, Float64MultiArray, JointState or JointTrajectory -> action vector
    (float64) in ``action_names`` order.

    ``interface`` (velocity | position) says which field carries the values: a JointState's
    ``velocity`` or ``position`` (the other one when that one is empty, as senders that fill one
    field do), a JointTrajectory's first point's ``velocities`` or ``positions`` (that one only:
    a trajectory for the other interface is refused). Names may come in any order.

    Raises ValueError for a wrong length, names that do not cover ``action_names`` (naming the
    expected and the received ones), a trajectory without points, or a message type that cannot
    carry the action. Non-finite values are passed through: deciding what to do with them is the
    caller's job (it counts them).
    """
    kind = message_type(msg)
    if kind == COMMAND_TYPES["twist_stamped"]:
        msg, kind = msg.twist, COMMAND_TYPES["twist"]
    if kind == COMMAND_TYPES["twist"]:
        check_command_type("twist", action_names)
        return np.array([getattr(getattr(msg, TWIST_FIELDS[n][0]), TWIST_FIELDS[n][1])
                         for n in action_names], dtype=np.float64)
    if kind == COMMAND_TYPES["float64_multi_array"]:
        data = np.asarray(msg.data, dtype=np.float64)
        if data.shape != (len(action_names),):
            raise ValueError(f"Float64MultiArray command has {data.size} values, expected "
                             f"{len(action_names)} ({', '.join(action_names)})")
        return data
    if interface not in COMMAND_INTERFACES:
        raise ValueError(f"unknown command interface {interface!r}; valid interfaces: "
                         f"{', '.join(COMMAND_INTERFACES)}")
    if kind == COMMAND_TYPES["joint_state"]:
        first = getattr(msg, JOINT_STATE_FIELDS[interface])
        values = first if len(first) else getattr(msg, JOINT_STATE_FIELDS[_other(interface)])
        return _by_name("JointState", msg.name, values, action_names, "velocities/positions")
    if kind == COMMAND_TYPES["joint_trajectory"]:
        if len(msg.points) == 0:
            raise ValueError(f"JointTrajectory command has no points; expected at least one "
                             f"carrying {TRAJECTORY_FIELDS[interface]} for {list(action_names)}")
        field_name = TRAJECTORY_FIELDS[interface]
        values = getattr(msg.points[0], field_name)
        if len(values) == 0:
            other = TRAJECTORY_FIELDS[_other(interface)]
            got = f"it has {other}" if len(getattr(msg.points[0], other)) else "it has neither"
            raise ValueError(f"JointTrajectory command's first point has no {field_name} "
                             f"(command_interface {interface}); {got}")
        return _by_name("JointTrajectory", msg.joint_names, values, action_names, field_name)
    raise ValueError(f"cannot read a command from {kind}; expected one of Twist, TwistStamped, "
                     f"Float64MultiArray, JointState, JointTrajectory")


# state_type -> (ROS message type, default topic, values per message; None: as configured)
STATE_MESSAGES = {
    "odometry": ("nav_msgs/msg/Odometry", "odom", 8),
    "joint_state": ("sensor_msgs/msg/JointState", "joint_states", None),
    "pose_stamped": ("geometry_msgs/msg/PoseStamped", "pose", 7),
    "float64_multi_array": ("std_msgs/msg/Float64MultiArray", "state", None),
}


def state_from_msg(msg, state_type: str, joint_names=(), size: int = 0) -> np.ndarray:
    """The state vector of a message of ``state_type`` (float64):

    odometry             x, y, z, yaw, vx, vy, vz, yaw_rate (``odometry_from_msg``)
    joint_state          positions of ``joint_names`` in that order, or all in message order
    pose_stamped         x, y, z, qx, qy, qz, qw (a motion-capture or localization pose)
    float64_multi_array  ``data`` as it comes; ``size`` values expected (0: any)

    ValueError says what was expected and what came."""
    if state_type == "odometry":
        return odometry_from_msg(msg)
    if state_type == "joint_state":
        if joint_names:
            return joint_state_from_msg(msg, joint_names)
        return np.asarray(msg.position, dtype=np.float64)
    if state_type == "pose_stamped":
        p, o = msg.pose.position, msg.pose.orientation
        return np.array([p.x, p.y, p.z, o.x, o.y, o.z, o.w], dtype=np.float64)
    if state_type == "float64_multi_array":
        data = np.asarray(msg.data, dtype=np.float64)
        if size and data.shape != (size,):
            raise ValueError(f"Float64MultiArray state has {data.size} values, expected {size}")
        return data
    raise ValueError(f"unknown state type {state_type!r}; expected one of "
                     f"{', '.join(STATE_MESSAGES)}")


def odometry_from_msg(msg) -> np.ndarray:
    """nav_msgs/Odometry -> the drone state vector (x, y, z, yaw, vx, vy, vz, yaw_rate)."""
    p, o = msg.pose.pose.position, msg.pose.pose.orientation
    yaw = yaw_from_quaternion(o.x, o.y, o.z, o.w)
    t = msg.twist.twist
    return np.array([p.x, p.y, p.z, yaw, t.linear.x, t.linear.y, t.linear.z, t.angular.z],
                    dtype=np.float64)


def joint_state_from_msg(msg, names) -> np.ndarray:
    """sensor_msgs/JointState -> positions in the order of ``names`` (ValueError if missing)."""
    index = {n: i for i, n in enumerate(msg.name)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(f"JointState lacks joints {missing}; got {list(msg.name)}")
    if len(msg.position) != len(msg.name):
        raise ValueError(f"JointState has {len(msg.name)} names but {len(msg.position)} positions")
    return np.array([msg.position[index[n]] for n in names], dtype=np.float64)
