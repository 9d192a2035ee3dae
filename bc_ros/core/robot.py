"""Robot profiles: one YAML file that says what a robot's topics carry, read by every node.

A profile names the robot's cameras (topic, transport, size, pose), its state (topic, message
type, joints in order), its command (topic, message type, action names, limits, stop command)
and its control rate. The recorder, the policy node, the DAgger mux and the teleop node take it
as their ``robot`` parameter (a shipped name such as ``drone`` or ``arm``, or a path), and the
recorder stores it in the dataset, so the trainer and the checkpoint carry it on. Node parameters
given explicitly (parameter files, launch arguments, ``-p``) still win over the profile.

The file, field by field (``config/robots/*.yaml`` are complete examples)::

    name: my_arm                     # required; stored with datasets and checkpoints
    description: ...                 # optional, free text
    control_rate_hz: 10.0            # the rate commands are sent and rows recorded at
    cameras:                         # one or more; same size and transport for all
      - name: wrist                  # required; the stored stream is image_<name>
        topic: ""                    # "" = camera/<name>/image_raw (+ /compressed)
        transport: raw               # raw (sensor_msgs/Image) | compressed (CompressedImage)
        encoding: rgb8               # raw: what the driver publishes (rgb8 bgr8 mono8 rgba8
                                     # bgra8); all of them are converted to rgb
        width: 96                    # stored size; other sizes are counted and refused
        height: 96
        yaw_deg: 0.0                 # optional pose for side-camera augmentation
        lateral_m: 0.0
    state:
      type: joint_state              # joint_state (sensor_msgs/JointState positions) |
                                     # odometry (nav_msgs/Odometry: x y z yaw vx vy vz yaw_rate)
                                     # | pose_stamped (geometry_msgs/PoseStamped: x y z qx qy qz
                                     # qw) | float64_multi_array (std_msgs, `size` values) | none
      topic: ""                      # "" = joint_states / odom / pose / state
      joints: [j1, j2, ...]          # joint_state: the joints stored, in this order (read by
                                     # name: a message in another order is reordered, one
                                     # without a listed joint is refused and counted)
      size: 0                        # float64_multi_array: values per message
    command:
      type: twist_stamped            # twist | twist_stamped (cmd_vel, Jazzy+) |
                                     # float64_multi_array (ros2_control forward controllers) |
                                     # joint_state | joint_trajectory (joint_trajectory_controller)
      interface: velocity            # velocity | position: what the actions are (the JointState
                                     # / trajectory point field; position: a stop holds the last
                                     # command)
      topic: cmd                     # where the robot takes commands (the mux publishes there)
      actions: [vx, vy, vz]          # the action vector's layout
      low: [-0.25, -0.25, -0.25]     # limits, one per action: commands are clamped to them
      high: [0.25, 0.25, 0.25]
      stop: [0.0, 0.0, 0.0]          # sent by every watchdog; [] = zeros clamped to the limits

Errors name the file and the field (``command.lwo is not a field ...; did you mean low?``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os

import yaml

from bc_ros.core.messages import (COMMAND_INTERFACES, COMMAND_TYPES, IMAGE_ENCODINGS,
                                  IMAGE_TRANSPORTS, STATE_MESSAGES, check_command_type)

STATE_TYPES = (*STATE_MESSAGES, "none")


# The node config fields a profile decides (``RobotProfile.node_fields``'s keys).
NODE_FIELDS = ("cameras", "camera_topics", "camera_yaw_deg", "camera_lateral_m", "image_width",
               "image_height", "image_transport", "state_type", "state_topic", "state_dim",
               "joint_names", "action_names", "command_type", "command_interface", "low",
               "high", "stop_command", "rate_hz", "robot_cmd_topic")


class ProfileError(ValueError):
    """A robot profile that cannot be used; the text names the file and the field."""


@dataclasses.dataclass
class CameraProfile:
    name: str
    topic: str = ""
    transport: str = "raw"
    encoding: str = "rgb8"
    width: int = 96
    height: int = 96
    yaw_deg: float = 0.0
    lateral_m: float = 0.0


@dataclasses.dataclass
class StateProfile:
    type: str = "none"
    topic: str = ""
    joints: list = dataclasses.field(default_factory=list)
    size: int = 0               # float64_multi_array: values per message

    @property
    def dim(self) -> int:
        if self.type == "none":
            return 0
        if self.type == "joint_state":
            return len(self.joints)
        return STATE_MESSAGES[self.type][2] or self.size


@dataclasses.dataclass
class CommandProfile:
    type: str
    actions: list
    low: list
    high: list
    topic: str = "cmd"
    interface: str = "velocity"
    stop: list = dataclasses.field(default_factory=list)

    def stop_command(self) -> list[float]:
        if self.stop:
            return [float(v) for v in self.stop]
        return [min(max(0.0, lo), hi) for lo, hi in zip(self.low, self.high)]


@dataclasses.dataclass
class RobotProfile:
    name: str
    cameras: list
    state: StateProfile
    command: CommandProfile
    control_rate_hz: float = 10.0
    description: str = ""
    source: str = ""            # the file it was read from (not a field of the file)

    def to_dict(self) -> dict:
        """The profile as a plain dict (stored in datasets and checkpoints)."""
        d = dataclasses.asdict(self)
        d.pop("source")
        return d

    @property
    def camera_names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def node_fields(self) -> dict:
        """The node config fields the profile decides, by their names in the node configs
        (each node takes the ones it has; ``bc_ros.nodes.params.declare_config``)."""
        cams = self.cameras
        return {
            "cameras": [c.name for c in cams],
            "camera_topics": [c.topic for c in cams],
            "camera_yaw_deg": [float(c.yaw_deg) for c in cams],
            "camera_lateral_m": [float(c.lateral_m) for c in cams],
            "image_width": int(cams[0].width), "image_height": int(cams[0].height),
            "image_transport": cams[0].transport,
            "state_type": self.state.type, "state_topic": self.state.topic,
            "state_dim": self.state.dim, "joint_names": list(self.state.joints),
            "action_names": list(self.command.actions), "command_type": self.command.type,
            "command_interface": self.command.interface,
            "low": [float(v) for v in self.command.low],
            "high": [float(v) for v in self.command.high],
            "stop_command": self.command.stop_command(),
            "rate_hz": float(self.control_rate_hz), "robot_cmd_topic": self.command.topic,
        }


# ---- finding and reading profiles -------------------------------------------------------------
def profile_dirs() -> list[str]:
    """Where a profile given by name is looked for, in order: $BC_ROS_ROBOTS (a path list), the
    installed package share (``share/bc_ros/config/robots``: colcon, a distro), the source
    tree's ``config/robots`` (pip install -e)."""
    dirs = [d for d in os.environ.get("BC_ROS_ROBOTS", "").split(os.pathsep) if d]
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(os.path.join(get_package_share_directory("bc_ros"), "config", "robots"))
    except Exception:  # noqa: BLE001 - not installed as a ROS package, or no ament index
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    dirs.append(os.path.join(os.path.dirname(os.path.dirname(here)), "config", "robots"))
    return dirs


def shipped_profiles() -> list[str]:
    names = set()
    for d in profile_dirs():
        if os.path.isdir(d):
            names.update(f[:-5] for f in os.listdir(d) if f.endswith(".yaml"))
    return sorted(names)


def find_profile(robot: str) -> str:
    """The file of ``robot``: a path to a YAML file, or the name of a shipped profile."""
    if os.path.isfile(robot):
        return robot
    if os.sep not in robot and not robot.endswith((".yaml", ".yml")):
        for d in profile_dirs():
            path = os.path.join(d, f"{robot}.yaml")
            if os.path.isfile(path):
                return path
    raise ProfileError(f"robot profile {robot!r} not found: give a path to a YAML file or one "
                       f"of the shipped profiles {shipped_profiles()} (searched "
                       f"{profile_dirs()})")


def load_profile(robot: str) -> RobotProfile:
    """Read and validate the profile ``robot`` (a name or a path)."""
    path = find_profile(robot)
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise ProfileError(f"robot profile {path}: cannot read it: {e}") from e
    return profile_from_dict(doc, source=path)


def profile_from_dict(doc, source: str = "<dict>") -> RobotProfile:
    where = f"robot profile {source}"
    top = _fields(doc, RobotProfile, where, "", skip=("source",))
    if "cameras" not in top:
        raise ProfileError(f"{where}: cameras is missing: list at least one camera")
    cams = top["cameras"]
    if not isinstance(cams, list) or not cams:
        raise ProfileError(f"{where}: cameras must be a non-empty list of cameras, got {cams!r}")
    top["cameras"] = [CameraProfile(**_fields(c, CameraProfile, where, f"cameras[{i}]."))
                      for i, c in enumerate(cams)]
    for key, cls in (("state", StateProfile), ("command", CommandProfile)):
        if key not in top:
            raise ProfileError(f"{where}: {key} is missing")
        top[key] = cls(**_fields(top[key], cls, where, f"{key}."))
    profile = RobotProfile(**top, source=source)
    _check(profile, where)
    return profile


def _fields(doc, cls, where: str, prefix: str, skip=()) -> dict:
    """``doc``'s keys checked against ``cls``'s fields: unknown ones (with the nearest valid
    name) and missing required ones are errors."""
    if not isinstance(doc, dict):
        raise ProfileError(f"{where}: {prefix.rstrip('.') or 'the file'} must be a mapping, got "
                           f"{type(doc).__name__}")
    valid = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    for key in doc:
        if key not in valid:
            near = difflib.get_close_matches(str(key), valid, n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            raise ProfileError(f"{where}: {prefix}{key} is not a field{hint} (fields of "
                               f"{prefix.rstrip('.') or 'a profile'}: {', '.join(valid)})")
    for f in dataclasses.fields(cls):
        if (f.name in valid and f.name not in doc and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING):
            raise ProfileError(f"{where}: {prefix}{f.name} is missing")
    return dict(doc)


def _check(p: RobotProfile, where: str) -> None:
    def bad(field: str, text: str):
        raise ProfileError(f"{where}: {field} {text}")

    if not isinstance(p.name, str) or not p.name:
        bad("name", f"must be a non-empty string, got {p.name!r}")
    if not isinstance(p.description, str):
        bad("description", f"must be text, got {p.description!r}")
    if not _number(p.control_rate_hz) or p.control_rate_hz <= 0:
        bad("control_rate_hz", f"must be a number > 0, got {p.control_rate_hz!r}")
    for i, c in enumerate(p.cameras):
        f = f"cameras[{i}]"
        if not isinstance(c.name, str) or not c.name.isidentifier():
            bad(f"{f}.name", f"must be a name of letters, digits and _, got {c.name!r}")
        if not _one_of(c.transport, IMAGE_TRANSPORTS):
            bad(f"{f}.transport", f"must be one of {list(IMAGE_TRANSPORTS)}, got "
                                  f"{c.transport!r}")
        if not _one_of(c.encoding, IMAGE_ENCODINGS):
            bad(f"{f}.encoding", f"must be one of {list(IMAGE_ENCODINGS)}, got {c.encoding!r}")
        for key in ("width", "height"):
            v = getattr(c, key)
            if not isinstance(v, int) or isinstance(v, bool) or not 8 <= v <= 4096:
                bad(f"{f}.{key}", f"must be an integer number of pixels (8..4096), got {v!r}")
        for key in ("yaw_deg", "lateral_m"):
            if not _number(getattr(c, key)):
                bad(f"{f}.{key}", f"must be a number, got {getattr(c, key)!r}")
        if not isinstance(c.topic, str):
            bad(f"{f}.topic", f"must be a topic name, got {c.topic!r}")
    names = [c.name for c in p.cameras]
    if len(set(names)) != len(names):
        bad("cameras", f"have repeated names {names}")
    first = p.cameras[0]
    for i, c in enumerate(p.cameras[1:], 1):
        if (c.width, c.height, c.transport) != (first.width, first.height, first.transport):
            bad(f"cameras[{i}]", f"is {c.width}x{c.height} {c.transport}, cameras[0] is "
                                 f"{first.width}x{first.height} {first.transport}: all cameras "
                                 f"of a profile must share one size and transport")
    s = p.state
    if not _one_of(s.type, STATE_TYPES):
        bad("state.type", f"must be one of {list(STATE_TYPES)}, got {s.type!r}")
    if not isinstance(s.joints, list) or not all(isinstance(j, str) for j in s.joints):
        bad("state.joints", f"must be a list of joint names, got {s.joints!r}")
    if s.type == "joint_state" and not s.joints:
        bad("state.joints", "must list the joints to store, in order (state.type joint_state)")
    if s.type != "joint_state" and s.joints:
        bad("state.joints", f"is only for state.type joint_state, not {s.type}")
    if len(set(s.joints)) != len(s.joints):
        bad("state.joints", f"has repeated names {s.joints}")
    if not isinstance(s.topic, str):
        bad("state.topic", f"must be a topic name, got {s.topic!r}")
    if s.type == "float64_multi_array" and (not isinstance(s.size, int) or isinstance(
            s.size, bool) or s.size < 1):
        bad("state.size", f"must be the number of values (>= 1) of a float64_multi_array "
                          f"state, got {s.size!r}")
    c = p.command
    if not _one_of(c.type, COMMAND_TYPES):
        bad("command.type", f"must be one of {list(COMMAND_TYPES)}, got {c.type!r}")
    if not isinstance(c.actions, list) or not c.actions or not all(
            isinstance(a, str) for a in c.actions):
        bad("command.actions", f"must be a non-empty list of names, got {c.actions!r}")
    if not _one_of(c.interface, COMMAND_INTERFACES):
        bad("command.interface", f"must be one of {list(COMMAND_INTERFACES)}, got "
                                 f"{c.interface!r}")
    try:
        check_command_type(c.type, c.actions, c.interface)
    except ValueError as e:
        bad("command.type", str(e))
    if not isinstance(c.topic, str) or not c.topic:
        bad("command.topic", f"must be a topic name, got {c.topic!r}")
    if len(set(c.actions)) != len(c.actions):
        bad("command.actions", f"has repeated names {c.actions}")
    n = len(c.actions)
    for key in ("low", "high") + (("stop",) if c.stop else ()):
        v = getattr(c, key)
        if not isinstance(v, list) or len(v) != n or not all(_number(x) for x in v):
            bad(f"command.{key}", f"must be {n} numbers, one per action {c.actions}, got {v!r}")
    if any(lo > hi for lo, hi in zip(c.low, c.high)):
        bad("command.low", f"must be <= command.high, got low {c.low} high {c.high}")
    if c.stop and any(not lo <= v <= hi for v, lo, hi in zip(c.stop, c.low, c.high)):
        bad("command.stop", f"must lie within the limits, got {c.stop} (low {c.low}, high "
                            f"{c.high})")


def _one_of(value, options) -> bool:
    return isinstance(value, str) and value in options


def _number(v) -> bool:
    """A finite int or float (YAML's .nan and .inf are refused)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
