"""Message <-> numpy conversions, as pure functions (no node, no spinning).

Images are plain numpy (cv_bridge's compiled binding breaks across numpy versions). Every
function rejects what it cannot convert with a ValueError naming the field and the value, so a
node can log it and carry on.

Commands: an action vector is laid out by ``action_names`` (e.g. ``("vx", "vy", "vz",
"yaw_rate")``). Twist/TwistStamped carry the names listed in ``TWIST_FIELDS``; Float64MultiArray
carries the vector in order (ros2_control's forward_command_controller: ``data`` only);
JointState carries it in ``velocity`` or ``position`` (``interface``) with ``name`` = action
names; JointTrajectory (ros2_control's joint_trajectory_controller) carries one point per action
of a chunk, in ``velocities`` or ``positions``, with ``joint_names`` = action names and point k
(from 1) at ``time_from_start`` = k * ``period``. The type list and what each is for:
``bc_ros.core.messages.COMMAND_TYPES``.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

# The readers (message -> array) are ROS-free and shared with the rosbag2 import; re-exported
# here so that nodes find both directions in one place.
from bc_ros.core.messages import (  # noqa: F401
    COMMAND_INTERFACES, COMPRESSED_FORMATS, IMAGE_ENCODINGS, IMAGE_TRANSPORTS,
    JOINT_STATE_FIELDS, TRAJECTORY_FIELDS, TWIST_FIELDS, camera_topic, check_command_type,
    check_image_transport, command_from_msg, header_stamp, image_from_msg, joint_state_from_msg,
    message_type, odometry_from_msg, STATE_MESSAGES, state_from_msg, time_from_msg)

IMAGE_CLASSES = {"raw": Image, "compressed": CompressedImage}
STATE_CLASSES = {"odometry": Odometry, "joint_state": JointState, "pose_stamped": PoseStamped,
                 "float64_multi_array": Float64MultiArray}

COMMAND_TYPES = {
    "twist": Twist,
    "twist_stamped": TwistStamped,
    "float64_multi_array": Float64MultiArray,
    "joint_state": JointState,
    "joint_trajectory": JointTrajectory,
}


# ---- time -------------------------------------------------------------------------------------
def time_to_msg(seconds: float) -> Time:
    """Seconds (float) -> builtin_interfaces/Time, rounded to the nanosecond."""
    ns = int(round(seconds * 1e9))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def duration_to_msg(seconds: float) -> Duration:
    """Seconds (float, >= 0) -> builtin_interfaces/Duration, rounded to the nanosecond."""
    ns = int(round(seconds * 1e9))
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


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


def image_class(transport: str):
    """The message class of a camera topic in ``transport`` (raw or compressed)."""
    check_image_transport(transport)
    return IMAGE_CLASSES[transport]


def compressed_image_to_msg(image: np.ndarray, stamp: Time, frame_id: str = "",
                            fmt: str = "jpeg", quality: int = 90) -> CompressedImage:
    """uint8 (H, W, 3) rgb array -> sensor_msgs/CompressedImage as image_transport's compressed
    plugin publishes it (format ``"rgb8; jpeg compressed bgr8"``)."""
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image must be uint8 (H, W, 3) rgb, got dtype={image.dtype} shape={image.shape}")
    if fmt not in COMPRESSED_FORMATS:
        raise ValueError(f"cannot compress images as {fmt!r}; use one of {COMPRESSED_FORMATS}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "jpeg" else []
    ok, data = cv2.imencode("." + ("jpg" if fmt == "jpeg" else "png"),
                            np.ascontiguousarray(image[:, :, ::-1]), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {fmt}")
    msg = CompressedImage(format=f"rgb8; {fmt} compressed bgr8")
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.data = data.tobytes()
    return msg


# ---- commands ---------------------------------------------------------------------------------
def command_class(command_type: str):
    try:
        return COMMAND_TYPES[command_type]
    except KeyError:
        raise ValueError(
            f"unknown command type {command_type!r}; valid types: {', '.join(COMMAND_TYPES)}"
        ) from None


def command_to_msg(action, action_names, command_type: str, stamp: Time | None = None,
                   frame_id: str = "", *, interface: str = "velocity",
                   period: float | None = None):
    """Action vector -> a command message of ``command_type``.

    ``interface`` (velocity | position): which field of a JointState or a trajectory point
    carries the values. ``joint_trajectory`` also takes a chunk, ``action`` of shape (N, A):
    point k (k = 1..N) is action k-1 at ``time_from_start`` = k * ``period`` (seconds, needed);
    a single action is one point at one period. Its ``header.stamp`` stays zero, which
    joint_trajectory_controller reads as "start on receipt": ``stamp`` (the observation's) would
    put points already in the past on a command that took a while to compute, and a controller
    on another clock (sim time against wall time) would refuse every trajectory.
    """
    check_command_type(command_type, action_names, interface)
    actions = np.asarray(action, dtype=np.float64)
    if actions.ndim == 2 and command_type == "joint_trajectory":
        if actions.shape[1] != len(action_names) or actions.shape[0] == 0:
            raise ValueError(f"a chunk needs shape (N >= 1, {len(action_names)}) for actions "
                             f"({', '.join(action_names)}), got {actions.shape}")
        return trajectory_to_msg(actions, action_names, interface, period)
    if actions.ndim > 1:
        raise ValueError(f"a chunk of actions (shape {actions.shape}) can only go out as a "
                         f"joint_trajectory, not {command_type}")
    values = [float(v) for v in actions.reshape(-1)]
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
    if command_type == "joint_trajectory":
        return trajectory_to_msg(actions[None], action_names, interface, period)
    msg = JointState(name=list(action_names))
    setattr(msg, JOINT_STATE_FIELDS[interface], values)
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


def trajectory_to_msg(actions: np.ndarray, action_names, interface: str,
                      period: float | None) -> JointTrajectory:
    """(N, A) actions -> JointTrajectory: point k (from 1) carries action k-1 in ``velocities``
    or ``positions`` at ``time_from_start`` = k * period."""
    if period is None or not (np.isfinite(period) and period > 0):
        raise ValueError(f"a joint_trajectory command needs the control period (seconds, > 0) "
                         f"for the points' time_from_start, got {period=}")
    field_name = TRAJECTORY_FIELDS[interface]
    points = []
    for k, values in enumerate(actions, start=1):
        point = JointTrajectoryPoint(time_from_start=duration_to_msg(k * period))
        setattr(point, field_name, [float(v) for v in values])
        points.append(point)
    return JointTrajectory(joint_names=list(action_names), points=points)


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


def joint_state_to_msg(joints: dict, stamp: Time) -> JointState:
    """The arm sim's ``joint_state()`` dict -> sensor_msgs/JointState."""
    msg = JointState(name=list(joints["name"]),
                     position=[float(v) for v in joints["position"]],
                     velocity=[float(v) for v in joints["velocity"]])
    msg.header.stamp = stamp
    return msg
