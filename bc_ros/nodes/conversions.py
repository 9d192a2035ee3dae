"""Message <-> numpy conversions, as pure functions (no node, no spinning).

Images are plain numpy (cv_bridge's compiled binding breaks across numpy versions). Every
function rejects what it cannot convert with a ValueError naming the field and the value, so a
node can log it and carry on.

Commands: an action vector is laid out by ``action_names`` (e.g. ``("vx", "vy", "vz",
"yaw_rate")``). Twist/TwistStamped carry the names listed in ``TWIST_FIELDS``; Float64MultiArray
carries the vector in order; JointState carries it in ``velocity`` with ``name`` = action names.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension

from bc_ros.core.sim.base import yaw_from_quaternion

# encoding -> (channels, convert to rgb). Only lossless conversions to rgb8 are listed.
IMAGE_ENCODINGS = {
    "rgb8": 3,
    "bgr8": 3,
    "mono8": 1,
    "rgba8": 4,
    "bgra8": 4,
}

# action name -> (Twist part, axis)
TWIST_FIELDS = {
    "vx": ("linear", "x"), "vy": ("linear", "y"), "vz": ("linear", "z"),
    "roll_rate": ("angular", "x"), "pitch_rate": ("angular", "y"), "yaw_rate": ("angular", "z"),
}

COMMAND_TYPES = {
    "twist": Twist,
    "twist_stamped": TwistStamped,
    "float64_multi_array": Float64MultiArray,
    "joint_state": JointState,
}


# ---- time -------------------------------------------------------------------------------------
def time_to_msg(seconds: float) -> Time:
    """Seconds (float) -> builtin_interfaces/Time, rounded to the nanosecond."""
    ns = int(round(seconds * 1e9))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def time_from_msg(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


# ---- images -----------------------------------------------------------------------------------
def image_to_msg(image: np.ndarray, stamp: Time, frame_id: str = "",
                 encoding: str = "rgb8") -> Image:
    """uint8 (H, W, 3) rgb array -> sensor_msgs/Image in ``encoding`` (rgb8, bgr8 or mono8)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image must be uint8 (H, W, 3) rgb, got dtype={image.dtype} shape={image.shape}")
    if encoding == "rgb8":
        data = image
    elif encoding == "bgr8":
        data = image[:, :, ::-1]
    elif encoding == "mono8":
        # ITU-R 601 luma, as OpenCV's RGB2GRAY.
        data = (image @ np.array([0.299, 0.587, 0.114])).round().clip(0, 255).astype(np.uint8)
    else:
        raise ValueError(f"cannot publish image encoding {encoding!r}; use rgb8, bgr8 or mono8")
    data = np.ascontiguousarray(data)
    h, w = data.shape[:2]
    channels = 1 if data.ndim == 2 else data.shape[2]
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=0, step=w * channels)
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.data = data.tobytes()
    return msg


def image_from_msg(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> uint8 (H, W, 3) rgb. Accepts rgb8, bgr8, mono8, rgba8, bgra8.

    Padded rows (``step`` larger than width * channels) are handled; anything else (16-bit,
    Bayer, YUV, a data length that does not match) raises ValueError saying what was expected.
    """
    if msg.encoding not in IMAGE_ENCODINGS:
        raise ValueError(
            f"unsupported image encoding {msg.encoding!r}; expected one of "
            f"{', '.join(IMAGE_ENCODINGS)}")
    channels = IMAGE_ENCODINGS[msg.encoding]
    h, w, step = msg.height, msg.width, msg.step
    if h == 0 or w == 0:
        raise ValueError(f"image has zero size: height={h} width={w}")
    if step < w * channels:
        raise ValueError(f"image step {step} is smaller than width*channels = {w * channels}")
    buf = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if buf.size != h * step:
        raise ValueError(
            f"image data has {buf.size} bytes, expected height*step = {h}*{step} = {h * step}")
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


# ---- commands ---------------------------------------------------------------------------------
def command_class(command_type: str):
    try:
        return COMMAND_TYPES[command_type]
    except KeyError:
        raise ValueError(
            f"unknown command type {command_type!r}; valid types: {', '.join(COMMAND_TYPES)}"
        ) from None


def check_command_type(command_type: str, action_names) -> None:
    """Raise ValueError if ``command_type`` cannot carry every one of ``action_names``."""
    command_class(command_type)
    if command_type in ("twist", "twist_stamped"):
        missing = [n for n in action_names if n not in TWIST_FIELDS]
        if missing:
            raise ValueError(
                f"a {command_type} command cannot carry {missing}; use float64_multi_array or "
                f"joint_state for actions {list(action_names)}")


def command_to_msg(action, action_names, command_type: str, stamp: Time | None = None,
                   frame_id: str = ""):
    """Action vector -> a command message of ``command_type``."""
    check_command_type(command_type, action_names)
    values = [float(v) for v in np.asarray(action, dtype=np.float64).reshape(-1)]
    if len(values) != len(action_names):
        raise ValueError(f"action has {len(values)} values, expected {len(action_names)} "
                         f"({', '.join(action_names)})")
    if command_type in ("twist", "twist_stamped"):
        twist = Twist()
        for name, v in zip(action_names, values):
            part, axis = TWIST_FIELDS[name]
            setattr(getattr(twist, part), axis, v)
        if command_type == "twist":
            return twist
        msg = TwistStamped(twist=twist)
        if stamp is not None:
            msg.header.stamp = stamp
        msg.header.frame_id = frame_id
        return msg
    if command_type == "float64_multi_array":
        msg = Float64MultiArray(data=values)
        msg.layout.dim = [MultiArrayDimension(label=",".join(action_names), size=len(values),
                                              stride=len(values))]
        return msg
    msg = JointState(name=list(action_names), velocity=values)
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


def command_from_msg(msg, action_names) -> np.ndarray:
    """A Twist, TwistStamped, Float64MultiArray or JointState -> action vector (float64).

    Raises ValueError for a wrong length, a JointState whose names do not cover
    ``action_names``, or a message type that cannot carry the action. Non-finite values are
    passed through: deciding what to do with them is the caller's job (it counts them).
    """
    if isinstance(msg, TwistStamped):
        msg = msg.twist
    if isinstance(msg, Twist):
        check_command_type("twist", action_names)
        return np.array([getattr(getattr(msg, TWIST_FIELDS[n][0]), TWIST_FIELDS[n][1])
                         for n in action_names], dtype=np.float64)
    if isinstance(msg, Float64MultiArray):
        data = np.asarray(msg.data, dtype=np.float64)
        if data.shape != (len(action_names),):
            raise ValueError(f"Float64MultiArray command has {data.size} values, expected "
                             f"{len(action_names)} ({', '.join(action_names)})")
        return data
    if isinstance(msg, JointState):
        values = msg.velocity if len(msg.velocity) else msg.position
        if len(values) != len(msg.name):
            raise ValueError(f"JointState command has {len(msg.name)} names but "
                             f"{len(values)} velocities/positions")
        index = {n: i for i, n in enumerate(msg.name)}
        missing = [n for n in action_names if n not in index]
        if missing:
            raise ValueError(f"JointState command lacks {missing}; expected names "
                             f"{list(action_names)}, got {list(msg.name)}")
        return np.array([values[index[n]] for n in action_names], dtype=np.float64)
    raise ValueError(f"cannot read a command from {type(msg).__name__}; expected one of "
                     f"Twist, TwistStamped, Float64MultiArray, JointState")


# ---- robot state ------------------------------------------------------------------------------
def odometry_to_msg(odom: dict, stamp: Time, frame_id: str = "odom",
                    child_frame_id: str = "base_link") -> Odometry:
    """The drone sim's ``odometry()`` dict -> nav_msgs/Odometry (twist in the child frame)."""
    msg = Odometry()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.child_frame_id = child_frame_id
    p, q = odom["position"], odom["orientation_xyzw"]
    msg.pose.pose.position.x, msg.pose.pose.position.y, msg.pose.pose.position.z = map(float, p)
    o = msg.pose.pose.orientation
    o.x, o.y, o.z, o.w = map(float, q)
    lin, ang = odom["linear_body"], odom["angular_body"]
    t = msg.twist.twist
    t.linear.x, t.linear.y, t.linear.z = map(float, lin)
    t.angular.x, t.angular.y, t.angular.z = map(float, ang)
    return msg


def odometry_from_msg(msg: Odometry) -> np.ndarray:
    """nav_msgs/Odometry -> the drone state vector (x, y, z, yaw, vx, vy, vz, yaw_rate)."""
    p, o = msg.pose.pose.position, msg.pose.pose.orientation
    yaw = yaw_from_quaternion(o.x, o.y, o.z, o.w)
    t = msg.twist.twist
    return np.array([p.x, p.y, p.z, yaw, t.linear.x, t.linear.y, t.linear.z, t.angular.z],
                    dtype=np.float64)


def joint_state_to_msg(joints: dict, stamp: Time) -> JointState:
    """The arm sim's ``joint_state()`` dict -> sensor_msgs/JointState."""
    msg = JointState(name=list(joints["name"]),
                     position=[float(v) for v in joints["position"]],
                     velocity=[float(v) for v in joints["velocity"]])
    msg.header.stamp = stamp
    return msg


def joint_state_from_msg(msg: JointState, names) -> np.ndarray:
    """sensor_msgs/JointState -> positions in the order of ``names`` (ValueError if missing)."""
    index = {n: i for i, n in enumerate(msg.name)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(f"JointState lacks joints {missing}; got {list(msg.name)}")
    if len(msg.position) != len(msg.name):
        raise ValueError(f"JointState has {len(msg.name)} names but {len(msg.position)} positions")
    return np.array([msg.position[index[n]] for n in names], dtype=np.float64)
