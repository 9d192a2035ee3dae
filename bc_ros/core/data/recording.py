"""What the recorder decides, without ROS: which ticks to write, what goes in a row, what is flagged.

Streams: one per camera (``image_<name>``), ``state``, ``action`` (the expert's command: the
label), optionally ``executed`` (the command the robot ran, from ``cmd``) and ``control`` (who
drove: 0 expert, 1 policy, from the DAgger coordinator). Each sample arrives with its header stamp
and is buffered in a ``StreamAligner``.

Ticks lie on a grid of ``1 / rate_hz`` seconds (multiples of the period, so sim-time stamps fall
exactly on ticks). A tick is written once every stream has a sample stamped at or after it (all
data for it is in), or once the clock is ``latency`` seconds past it (a stream is late or silent:
the tick is written with that stream flagged). Each row stores the aligned values, every stream's
original stamp, its skew to the tick, and a flag per stream: 0 ok, 1 missing, 2 stale, 4 bad value
(NaN/inf in a command or state). Problems are counted per episode and go into its metadata.
"""

from __future__ import annotations

import collections
import dataclasses
import math

import numpy as np

from bc_ros.core.config import field
from bc_ros.core.data.align import STAMP_EPS, StreamAligner
from bc_ros.core.data.control import (CONTROL_BLEND, CONTROL_CODES,  # noqa: F401 (re-exported)
                                      CONTROL_EXPERT, CONTROL_HOLD, CONTROL_POLICY,
                                      CONTROL_STOP, CONTROL_UNKNOWN)
from bc_ros.core.data.store import EpisodeStore, EpisodeWriter, StorageError
from bc_ros.core.messages import (COMMAND_INTERFACES, STATE_MESSAGES, camera_topic,
                                  check_image_transport)
from bc_ros.core.robot import load_profile

OK, MISSING, STALE, BAD_VALUE = 0, 1, 2, 4
# the streams whose values can be NaN/inf
NUMERIC_STREAMS = ("state", "action", "executed", "goal", "achieved_goal")
# goal-conditioned data: the commanded goal and where the robot got to, as points (x, y, z)
GOAL_STREAMS = ("goal", "achieved_goal")
GOAL_DIM = 3
MAX_CATCH_UP_S = 3600.0  # a tick further behind the clock than this means the clock jumped
# A sample this far behind its stream's newest means that stream's clock restarted (a restarted
# sim; a driver that sent one stamp from a wrong clock): the stream starts over from it, as the
# policy node's ticker does, instead of refusing every later sample as stamp_backwards.
CLOCK_RESTART_S = 1.0


@dataclasses.dataclass
class RecorderConfig:
    """Parameters of ``recorder_node`` (and ``bc-ros record``)."""

    robot: str = field("", "Robot profile (a shipped name such as drone or arm, or a YAML "
                           "path): fills the camera, state, command and rate fields below; "
                           "parameters set explicitly still win. Stored with the dataset.")
    dataset: str = field("data/demos", "Dataset folder (created on first use, resumed after).")
    task: str = field("", "Task string stored with each episode (default: the sim's task).")
    cameras: list[str] = field(["left", "center", "right"], "Camera names; topic "
                                                            "camera/<name>/image_raw each.")
    camera_topics: list[str] = field([], "Topic of each camera; empty (or an empty entry) = "
                                         "camera/<name>/image_raw (+ /compressed).")
    image_transport: str = field("raw", "raw: sensor_msgs/Image on camera/<name>/image_raw; "
                                        "compressed: sensor_msgs/CompressedImage (JPEG or PNG, "
                                        "image_transport's compressed plugin) on "
                                        "camera/<name>/image_raw/compressed.")
    camera_yaw_deg: list[float] = field([30.0, 0.0, -30.0], "Yaw of each camera from the "
                                                            "heading, degrees, positive left.")
    camera_lateral_m: list[float] = field([0.0, 0.0, 0.0], "Lateral offset of each camera, "
                                                           "metres, positive left.")
    image_width: int = field(96, "Stored image width; other sizes are resized or rejected.")
    image_height: int = field(96, "Stored image height.")
    resize_images: bool = field(False, "Resize images of another size instead of rejecting "
                                       "them.")
    state_type: str = field("odometry", "odometry (nav_msgs/Odometry on odom), joint_state "
                                        "(sensor_msgs/JointState on joint_states), "
                                        "pose_stamped (geometry_msgs/PoseStamped on pose: x y z "
                                        "qx qy qz qw) or float64_multi_array "
                                        "(std_msgs/Float64MultiArray on state).")
    state_topic: str = field("", "Topic of the state; empty = its type's default: odom, "
                                 "joint_states, pose or state.")
    joint_names: list[str] = field([], "joint_state: the joints stored, in this order (read by "
                                       "name; a message without one of them is refused and "
                                       "counted); empty = the message's order as it comes.")
    state_dim: int = field(8, "Length of the state vector (odometry: 8; joint_state: number of "
                              "joints).")
    action_names: list[str] = field(["vx", "vy", "vz", "yaw_rate"], "Command dimensions.")
    command_type: str = field("twist", "Type of expert/cmd and cmd: twist, twist_stamped "
                                       "(cmd_vel from Jazzy on), float64_multi_array "
                                       "(ros2_control forward_command_controller), "
                                       "joint_state, joint_trajectory (ros2_control "
                                       "joint_trajectory_controller; its first point is "
                                       "recorded).")
    command_interface: str = field("velocity", "What the actions are, velocity or position: "
                                               "the JointState / JointTrajectoryPoint field "
                                               "read. Stored with the dataset; the policy "
                                               "trained on it sends the same.")
    goal_topic: str = field("", "Also record the commanded goal from this topic "
                                "(geometry_msgs/PointStamped, e.g. goal: goal-labelled "
                                "demonstrations); empty: not recorded.")
    achieved_goal_topic: str = field("", "Also record where the robot got to, as a goal, from "
                                         "this topic (geometry_msgs/PointStamped, e.g. "
                                         "achieved_goal: the hand's position): what play data "
                                         "is relabeled with in hindsight; empty: not recorded. "
                                         "Both goal topics are aligned like the state: "
                                         "publish them at the control rate.")
    record_executed: bool = field(True, "Also record cmd (what the robot executed).")
    record_control: bool = field(False, "Also record who was in control (dagger/control).")
    rate_hz: float = field(10.0, "Control tick rate of the stored rows.")
    latency: float = field(0.3, "Seconds after a tick at which it is written even if a stream "
                                "has not caught up (that stream is flagged).")
    image_tolerance: float = field(0.1, "Max age of a camera image used for a tick, seconds.")
    state_tolerance: float = field(0.1, "Max age of the state used for a tick, seconds.")
    command_tolerance: float = field(0.25, "Max age of a command used for a tick, seconds.")
    flush_every: int = field(10, "Rows between flushes to disk (a crash loses at most these).")

    def __post_init__(self):
        n = len(self.cameras)
        if len(self.camera_yaw_deg) != n or len(self.camera_lateral_m) != n:
            raise ValueError(f"camera_yaw_deg and camera_lateral_m need one value per camera "
                             f"{self.cameras}, got {self.camera_yaw_deg=} "
                             f"{self.camera_lateral_m=}")
        if self.state_type not in STATE_MESSAGES:
            raise ValueError(f"state_type must be one of {list(STATE_MESSAGES)}, "
                             f"got {self.state_type=}")
        check_image_transport(self.image_transport)
        if self.camera_topics and len(self.camera_topics) != n:
            raise ValueError(f"camera_topics needs one topic per camera {self.cameras} (or "
                             f"none), got {self.camera_topics=}")
        if self.joint_names and (self.state_type != "joint_state"
                                 or len(self.joint_names) != self.state_dim):
            raise ValueError(f"joint_names is for state_type joint_state, one name per state "
                             f"value (state_dim {self.state_dim}), got {self.joint_names=} "
                             f"with {self.state_type=}")
        if self.rate_hz <= 0 or self.latency <= 0:
            raise ValueError(f"rate_hz and latency must be > 0, got {self.rate_hz=} "
                             f"{self.latency=}")
        if self.command_interface not in COMMAND_INTERFACES:
            raise ValueError(f"command_interface must be one of {COMMAND_INTERFACES}, got "
                             f"{self.command_interface=}")
        if self.state_dim < 1 or not self.action_names:
            raise ValueError(f"state_dim must be >= 1 and action_names non-empty, got "
                             f"{self.state_dim=} {self.action_names=}")

    @property
    def streams(self) -> list[str]:
        names = [f"image_{c}" for c in self.cameras] + ["state", "action"]
        names += [s for s, topic in zip(GOAL_STREAMS, (self.goal_topic,
                                                       self.achieved_goal_topic)) if topic]
        if self.record_executed:
            names.append("executed")
        if self.record_control:
            names.append("control")
        return names

    def tolerances(self) -> dict[str, float]:
        tol = {}
        for s in self.streams:
            if s.startswith("image_"):
                tol[s] = self.image_tolerance
            elif s in ("state",) + GOAL_STREAMS:
                tol[s] = self.state_tolerance
            else:
                tol[s] = self.command_tolerance
        return tol

    def recorded_profile(self) -> dict | None:
        """The robot profile as this recorder used it: the ``robot`` profile with the values
        that parameters overrode (what the stored rows are); None without a profile."""
        if not self.robot:
            return None
        p = load_profile(self.robot).to_dict()
        by_name = {c["name"]: c for c in p["cameras"]}
        p["cameras"] = [{**by_name.get(c, {}), "name": c, "topic": self.camera_topic(i),
                         "transport": self.image_transport, "width": self.image_width,
                         "height": self.image_height, "yaw_deg": self.camera_yaw_deg[i],
                         "lateral_m": self.camera_lateral_m[i]}
                        for i, c in enumerate(self.cameras)]
        p["state"].update(type=self.state_type, topic=self.state_topic_name(),
                          joints=list(self.joint_names))
        p["command"].update(type=self.command_type, interface=self.command_interface)
        p["control_rate_hz"] = self.rate_hz
        if list(p["command"]["actions"]) != list(self.action_names):
            raise ValueError(f"action_names {self.action_names} differ from the robot profile "
                             f"{self.robot!r}'s command.actions {p['command']['actions']}: its "
                             f"limits would not fit; give a profile of these actions")
        return p

    def camera_topic(self, index: int) -> str:
        """The topic camera ``index`` is read from."""
        topic = self.camera_topics[index] if self.camera_topics else ""
        return topic or camera_topic(self.cameras[index], self.image_transport)

    def state_topic_name(self) -> str:
        return self.state_topic or STATE_MESSAGES[self.state_type][1]

    def features(self) -> dict:
        h, w, a, n = self.image_height, self.image_width, len(self.action_names), len(self.streams)
        feats = {f"image_{c}": ((h, w, 3), "uint8") for c in self.cameras}
        feats.update(state=((self.state_dim,), "float32"), action=((a,), "float32"),
                     time=((), "float64"), stamps=((n,), "float64"), skew=((n,), "float32"),
                     flags=((n,), "uint8"))
        if self.record_executed:
            feats["executed"] = ((a,), "float32")
        for stream in GOAL_STREAMS:
            if stream in self.streams:
                feats[stream] = ((GOAL_DIM,), "float32")
        if self.record_control:
            feats["control"] = ((), "int8")
        return feats

    def dataset_info(self) -> dict:
        return {"rate_hz": self.rate_hz, "streams": self.streams,
                "cameras": [{"name": c, "yaw_deg": y, "lateral_m": d} for c, y, d in
                            zip(self.cameras, self.camera_yaw_deg, self.camera_lateral_m)],
                "state_type": self.state_type, "action_names": list(self.action_names),
                "command_type": self.command_type, "command_interface": self.command_interface,
                "image_transport": self.image_transport, "goal_topic": self.goal_topic,
                "achieved_goal_topic": self.achieved_goal_topic,
                "joint_names": list(self.joint_names), "robot": self.robot,
                "robot_profile": self.recorded_profile(),
                "image_size": [self.image_width, self.image_height],
                "tolerances": self.tolerances(), "flags": {"ok": OK, "missing": MISSING,
                                                           "stale": STALE,
                                                           "bad_value": BAD_VALUE}}


class Problem(str):
    """What was wrong with a sample, as text for the log, and its ``kind`` (``size``,
    ``nonfinite``, ``stamp_backwards``, ``zero_stamp``, ``nonfinite_stamp``, ``clock_restart``)
    to count and throttle it by."""

    def __new__(cls, kind: str, text: str):
        self = super().__new__(cls, text)
        self.kind = kind
        return self


class Recorder:
    """Episode recording around an ``EpisodeStore``. Time comes in as arguments."""

    def __init__(self, config: RecorderConfig):
        self.config = config
        self.streams = config.streams
        self.period = 1.0 / config.rate_hz
        self.store: EpisodeStore | None = None
        self.writer: EpisodeWriter | None = None
        self.aligner = StreamAligner(config.tolerances(),
                                     horizon=max(2.0, 2 * config.latency + 1.0),
                                     restart_after=CLOCK_RESTART_S)
        self.counts: collections.Counter = collections.Counter()
        self._next_tick: float | None = None
        self._since = -math.inf
        self._last_control = None
        self._silent: set[str] = set()
        self.last_summary: dict | None = None

    # ---- episodes ----------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self.writer is not None

    def open_store(self) -> EpisodeStore:
        if self.store is None:
            self.store = EpisodeStore(self.config.dataset, self.config.features(),
                                      info=self.config.dataset_info())
        return self.store

    def start(self, now: float | None, task: str = "", *, since: float | None = None,
              **attrs) -> int:
        """Begin an episode whose first tick is the first grid point at or after ``now``
        (``None``: at or after the first sample that arrives, for recorders started before
        data flows). Samples stamped before ``since`` belong to an earlier episode and are
        never used (a sim's reset: the previous episode's last frame is not this one's)."""
        if self.writer is not None:
            raise RuntimeError(f"episode {self.writer.index} is still recording: stop or discard "
                               f"it first")
        store = self.open_store()
        self.counts = collections.Counter()
        self._last_control = None
        self._silent = set()
        self.writer = store.begin({"task": task or self.config.task, **attrs},
                                  flush_every=self.config.flush_every)
        self._set_start(now)
        self._since = -math.inf if since is None else since
        return self.writer.index

    def _set_start(self, now: float | None) -> None:
        self._next_tick = (None if now is None
                           else math.ceil(now / self.period - STAMP_EPS) * self.period)

    def stop(self, now: float, success: bool) -> dict:
        """Write the ticks whose data is in, then publish the episode."""
        if self.writer is None:
            raise RuntimeError("no episode is recording")
        self.update(now, final=True)
        writer, self.writer = self.writer, None
        if writer.length == 0:
            writer.discard()
            self.last_summary = {"index": writer.index, "length": 0, "discarded": True}
            return self.last_summary
        self.last_summary = writer.finish(success, extra={"counts": dict(self.counts)})
        return self.last_summary

    def discard(self) -> int:
        if self.writer is None:
            raise RuntimeError("no episode is recording")
        writer, self.writer = self.writer, None
        writer.discard()
        return writer.index

    # ---- samples -----------------------------------------------------------------------------
    def add(self, stream: str, stamp: float, value) -> Problem | None:
        """Buffer one sample. Returns what was wrong with it (for a log throttled per stream
        and kind) or None. A non-finite sample is kept (its ticks are flagged bad)."""
        problem = None
        if stream.startswith("image_"):
            value, problem = self._check_image(stream, value)
            if value is None:
                self.counts[f"{stream}_rejected"] += 1
                return problem
        elif stream in NUMERIC_STREAMS:
            value = np.asarray(value, dtype=np.float32)
            expected = (self.config.state_dim if stream == "state" else GOAL_DIM
                        if stream in GOAL_STREAMS else len(self.config.action_names))
            if value.shape != (expected,):
                self.counts[f"{stream}_wrong_size"] += 1
                return Problem("size", f"{stream} has {value.size} values, expected {expected}")
            if not np.all(np.isfinite(value)):
                self.counts[f"{stream}_nonfinite"] += 1
                problem = Problem("nonfinite", f"non-finite value in {stream}: {value.tolist()}")
        newest, restarts = self.aligner.newest(stream), self.aligner.restarts[stream]
        if not self.aligner.add(stream, stamp, value):
            reason = ("nonfinite_stamp" if not math.isfinite(stamp) else
                      "zero_stamp" if stamp <= 0 else "stamp_backwards")
            self.counts[f"{stream}_{reason}"] += 1
            return Problem(reason, f"{stream} sample rejected: {reason.replace('_', ' ')} "
                                   f"({stamp:.9f})")
        if self.aligner.restarts[stream] > restarts:
            self.counts[f"{stream}_clock_restart"] += 1
            problem = Problem("clock_restart", f"{stream} stamps jumped back from {newest:.3f} "
                                               f"to {stamp:.3f} s: the stream starts over")
        if self.writer is not None and self._next_tick is None:
            # Started "at the first sample": begin once every stream has spoken, so the first
            # row is complete.
            newest = [self.aligner.newest(s) for s in self.streams]
            if all(n is not None for n in newest):
                self._set_start(max(newest))
        return problem

    def _check_image(self, stream, image):
        h, w = self.config.image_height, self.config.image_width
        if image.shape[:2] == (h, w):
            return image, None
        if not self.config.resize_images:
            return None, Problem("size", f"{stream} is {image.shape[1]}x{image.shape[0]}, "
                                         f"expected {w}x{h} (set resize_images to resize)")
        import cv2

        self.counts[f"{stream}_resized"] += 1
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), None

    def silent_streams(self, now: float, after_s: float) -> dict[str, float | None]:
        """Streams of the episode whose newest sample is more than ``after_s`` older than
        ``now``: stream -> its age in seconds (None: nothing yet, ``after_s`` into the
        episode). Each stream's fall into silence is counted once (``<stream>_silent``)."""
        if self.writer is None:
            return {}
        silent = {}
        for s in self.streams:
            if s == "control":      # the mux speaks only while a DAgger episode runs
                continue
            newest = self.aligner.newest(s)
            if newest is None or newest < self._since:
                started = self._next_tick if self._next_tick is not None else now
                if now - started > after_s:
                    silent[s] = None
            elif now - newest > after_s:
                silent[s] = now - newest
        for s in silent.keys() - self._silent:
            self.counts[f"{s}_silent"] += 1
        self._silent = set(silent)
        return silent

    # ---- ticks -------------------------------------------------------------------------------
    def update(self, now: float, final: bool = False) -> int:
        """Write every tick that is ready at ``now``; returns how many were written.

        ``final`` (at stop): ticks that every stream has reached are written at once; ticks
        still waiting for a late stream are dropped and counted (``ticks_dropped_at_stop``)
        rather than written half-empty.
        """
        if self.writer is None or self._next_tick is None:
            return 0
        if now - self._next_tick > MAX_CATCH_UP_S:
            # The clock jumped (a sim-time stamp meeting a wall clock, a restarted sim): do not
            # write a row for every period in between; restart the grid at `now` and count it.
            self.counts["clock_jumps"] += 1
            self._set_start(now)
        newest = [self.aligner.newest(s) for s in self.streams]
        caught_up = min(newest) if all(n is not None for n in newest) else -math.inf
        written = 0
        while True:
            t = self._next_tick
            if final and t > now + STAMP_EPS:
                return written  # the episode ended at `now`: later ticks are the next one's
            if t <= caught_up + STAMP_EPS or (not final and t <= now - self.config.latency):
                self._write_tick(t)
                self._next_tick = t + self.period
                written += 1
                continue
            if final:
                last = min(now, max((n for n in newest if n is not None), default=-math.inf))
                dropped = max(0, math.floor((last - t) / self.period + STAMP_EPS) + 1)
                if dropped:
                    self.counts["ticks_dropped_at_stop"] += dropped
            return written

    def _write_tick(self, t: float) -> None:
        tick = self.aligner.sample(t, since=self._since)
        cfg = self.config
        n = len(self.streams)
        stamps = np.full(n, np.nan)
        skew = np.full(n, np.nan, dtype=np.float32)
        flags = np.zeros(n, dtype=np.uint8)
        for i, s in enumerate(self.streams):
            if tick.stamps[s] is not None:
                stamps[i], skew[i] = tick.stamps[s], tick.skew[s]
            if s in tick.missing:
                flags[i] |= MISSING
            elif s in tick.stale:
                flags[i] |= STALE
            elif s in NUMERIC_STREAMS and not np.all(np.isfinite(tick.values[s])):
                flags[i] |= BAD_VALUE     # the sample this tick takes, whatever came around it
            if flags[i]:
                self.counts[f"{s}_flagged"] += 1
        if flags.any():
            self.counts["ticks_flagged"] += 1
        self.counts["ticks"] += 1
        row = {"time": t, "stamps": stamps, "skew": skew, "flags": flags}
        for c in cfg.cameras:
            img = tick.values[f"image_{c}"]
            row[f"image_{c}"] = img if img is not None else np.zeros(
                (cfg.image_height, cfg.image_width, 3), np.uint8)
        for s, dim in (("state", cfg.state_dim), ("action", len(cfg.action_names)),
                       ("executed", len(cfg.action_names)), ("goal", GOAL_DIM),
                       ("achieved_goal", GOAL_DIM)):
            if s in self.streams:
                v = tick.values[s]
                row[s] = v if v is not None else np.full(dim, np.nan, np.float32)
        if cfg.record_control:
            control = tick.values["control"]
            control = CONTROL_UNKNOWN if control is None else int(control)
            if self._last_control is not None and control != self._last_control:
                self.counts["control_switches"] += 1
                # a takeover from the policy; expert -> hold/stop -> expert is the same one
                if control == CONTROL_EXPERT and self._last_control in (CONTROL_POLICY,
                                                                        CONTROL_BLEND,
                                                                        CONTROL_UNKNOWN):
                    self.counts["interventions"] += 1
            self._last_control = control
            row["control"] = control
        try:
            self.writer.append(row)
        except StorageError:
            self.writer = None   # closed and kept as far as written, or left for recovery
            raise

    def status(self) -> dict:
        return {"recording": self.recording,
                "episode": self.writer.index if self.writer else None,
                "ticks": self.counts["ticks"], "ticks_flagged": self.counts["ticks_flagged"],
                "problems": {k: v for k, v in self.counts.items()
                             if k not in ("ticks", "ticks_flagged")}}
