"""recorder_node: demonstrations from ROS 2 topics into the crash-safe episode store.

Subscribes (sensor-data QoS for sensors, reliable for commands):
    camera/<name>/image_raw   sensor_msgs/Image (rgb8, bgr8, mono8, rgba8, bgra8), or with
                              image_transport=compressed camera/<name>/image_raw/compressed,
                              sensor_msgs/CompressedImage (JPEG or PNG)
    odom | joint_states       nav_msgs/Odometry | sensor_msgs/JointState (state_type; also
    | pose | state            geometry_msgs/PoseStamped, std_msgs/Float64MultiArray; state_topic)
    expert/cmd                the expert's command: the label
    cmd                       what the robot executed (record_executed)
    goal_topic                geometry_msgs/PointStamped, the commanded goal (when set)
    achieved_goal_topic       geometry_msgs/PointStamped, where the robot got to (when set)
    dagger/control            std_msgs/Int8, who drove: 0 expert 1 policy 2 hold 3 blend 4 stop
    sim/outcome               std_msgs/String JSON from sim_node: stops the episode (stop_on_outcome)
    joy                       sensor_msgs/Joy: start/stop/discard buttons (joy_*_button >= 0)
Services:
    ~/start_episode           std_srvs/Trigger
    ~/stop_episode            std_srvs/SetBool (data = success)
    ~/discard_episode         std_srvs/Trigger
Publishes:
    recorder/status           std_msgs/String JSON: recording, episode, ticks, problems (1 Hz
                              and on every change)
    /diagnostics              diagnostic_msgs/DiagnosticArray with it: ERROR after a storage
                              fault (disk full, dataset folder read-only or removed) until an
                              episode is saved again; disk_full and storage_errors counted

A storage fault never stops the node: the episode is closed and kept as far as written (or its
.partial file is recovered at the next open), the fault is logged, counted and on /diagnostics,
and the next episode starts once the disk has room again.

Problems are counted per stream and kind (``<stream>_bad_encoding``, ``_bad_data_length``,
``_bad_decode`` (corrupt or truncated compressed data),
``_wrong_size``, ``_nonfinite``, ``_stamp_backwards``, ``_zero_stamp``, ``_clock_restart``,
``_silent``) and logged
with one throttle per stream and kind (``log_period_s``), so one fault never hides another.

The decisions (tick grid, alignment, flags, counters) are in ``bc_ros.core.data.recording``.
"""

from __future__ import annotations

import collections
import dataclasses
import json

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PointStamped
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_msgs.msg import Int8, String
from std_srvs.srv import SetBool, Trigger

from bc_ros.core.config import field
from bc_ros.core.data.recording import Recorder, RecorderConfig
from bc_ros.core.data.store import DiskFullError, StorageError
from bc_ros.core.throttle import ProblemLog
from bc_ros.nodes import conversions as conv
from bc_ros.nodes.params import declare_config
from bc_ros.nodes.runtime import (COMMAND_QOS, LATCHED_QOS, SENSOR_QOS, TopicTypeCheck,
                                  log_problem, spin_node)


@dataclasses.dataclass
class RecorderNodeConfig(RecorderConfig):
    """RecorderConfig plus how episodes are started and stopped."""

    PROFILE_FIELD = "robot"    # a robot profile fills cameras, state, command, rate

    stop_on_outcome: bool = field(True, "Stop the episode when sim/outcome reports its end.")
    auto_start: bool = field(False, "Start an episode at once, and the next one after each "
                                    "stop on an outcome.")
    episodes: int = field(0, "Stop recording (and the node) after this many episodes "
                             "(0 = never).")
    source: str = field("expert", "Tag stored with each episode: who produced it (expert, "
                                  "dagger, ...). Settable while running; read at episode start.")
    round: int = field(-1, "DAgger round stored with each episode (-1 = none). Settable while "
                           "running; read at episode start.")
    joy_start_button: int = field(-1, "Joy button that starts an episode (-1 = none).")
    joy_success_button: int = field(-1, "Joy button that stops the episode as a success.")
    joy_failure_button: int = field(-1, "Joy button that stops the episode as a failure.")
    joy_discard_button: int = field(-1, "Joy button that discards the episode.")
    silence_warn_s: float = field(2.0, "While recording, log a stream that has sent nothing for "
                                       "this many seconds (0 = never).")
    log_period_s: float = field(2.0, "Problem logs are throttled to one per this many seconds, "
                                     "per stream and kind of problem.")


def time_now(node: Node) -> float:
    return node.get_clock().now().nanoseconds * 1e-9


class RecorderNode(Node):
    def __init__(self, overrides: dict | None = None, **node_kwargs):
        super().__init__("recorder", **node_kwargs)
        self.config: RecorderNodeConfig = declare_config(self, RecorderNodeConfig, overrides)
        cfg = self.config
        conv.check_command_type(cfg.command_type, cfg.action_names, cfg.command_interface)
        self.recorder = Recorder(cfg)
        self.recorder.open_store()  # recover leftovers of a crash now, not at the first episode
        store = self.recorder.store
        if store.recovered or store.quarantined:
            self.get_logger().warning(f"recovered episodes {store.recovered} and quarantined "
                                   f"{store.quarantined} left by an earlier crash")
        self.done = False
        self.finished = 0
        # Storage faults over the node's life (a full disk, a folder made read-only or removed):
        # the node keeps running; /diagnostics is ERROR until an episode is saved again.
        self.storage = collections.Counter(recovered=len(store.recovered),
                                           quarantined=len(store.quarantined))
        self.storage_error = ""
        self._joy_buttons: list[int] = []
        self.problems = ProblemLog(cfg.log_period_s)

        image_type = conv.image_class(cfg.image_transport)
        for i, name in enumerate(cfg.cameras):
            self.create_subscription(image_type, cfg.camera_topic(i),
                                     self._on_image(f"image_{name}"), SENSOR_QOS)
        state_class = conv.STATE_CLASSES[cfg.state_type]
        self.create_subscription(state_class, cfg.state_topic_name(), self._on_state,
                                 SENSOR_QOS)
        cmd_type = conv.command_class(cfg.command_type)
        self.create_subscription(cmd_type, "expert/cmd", self._on_command("action"), COMMAND_QOS)
        if cfg.record_executed:
            self.create_subscription(cmd_type, "cmd", self._on_command("executed"), COMMAND_QOS)
        if cfg.record_control:
            self.create_subscription(Int8, "dagger/control", self._on_control, COMMAND_QOS)
        goal_topics = {s: t for s, t in (("goal", cfg.goal_topic),
                                         ("achieved_goal", cfg.achieved_goal_topic)) if t}
        for stream, topic in goal_topics.items():
            self.create_subscription(PointStamped, topic, self._on_point(stream), COMMAND_QOS)
        # Subscriptions that could never act are left out: each entity costs the executor work
        # at every wake-up (about 250 a second with three cameras).
        if cfg.stop_on_outcome:
            self.create_subscription(String, "sim/outcome", self._on_outcome, COMMAND_QOS)
        if max(cfg.joy_start_button, cfg.joy_success_button, cfg.joy_failure_button,
               cfg.joy_discard_button) >= 0:
            self.create_subscription(Joy, "joy", self._on_joy, SENSOR_QOS)
        camera_topics = [cfg.camera_topic(i) for i in range(len(cfg.cameras))]
        expected = {t: image_type for t in camera_topics}
        expected[cfg.state_topic_name()] = state_class
        expected["expert/cmd"] = cmd_type
        if cfg.record_executed:
            expected["cmd"] = cmd_type
        expected.update({t: PointStamped for t in goal_topics.values()})
        hints = {t: f"; set image_transport (now {cfg.image_transport}) or the robot profile's "
                    f"cameras to what the camera sends" for t in camera_topics}
        hints.update({t: f"; set command_type (now {cfg.command_type}) or the profile's "
                         f"command.type" for t in ("expert/cmd", "cmd")})
        self.type_check = TopicTypeCheck(self, expected, hints)
        # on the steady clock: a sim clock that has not started must not hide the cause
        self.create_timer(1.0, self._check_topic_types,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.create_service(Trigger, "~/start_episode", self._srv_start)
        self.create_service(SetBool, "~/stop_episode", self._srv_stop)
        self.create_service(Trigger, "~/discard_episode", self._srv_discard)
        self.status_pub = self.create_publisher(String, "recorder/status", LATCHED_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", COMMAND_QOS)
        # Once a period: update() writes every tick that is ready, however many there are.
        self.create_timer(1.0 / cfg.rate_hz, self._tick)
        self.create_timer(1.0, self._publish_status)
        self.get_logger().info(f"recording into {cfg.dataset} "
                               f"({len(store.episodes)} episodes there)")
        if cfg.auto_start:  # the first tick is at the first sample that arrives
            self.start_episode(at_first_sample=True)

    # ---- episode control ---------------------------------------------------------------------
    def start_episode(self, now: float | None = None, at_first_sample: bool = False,
                      since: float | None = None) -> str:
        """Start now (default: the node's clock), at ``now``, or at the first sample."""
        if not at_first_sample and now is None:
            now = time_now(self)
        tags = {"source": self.get_parameter("source").value}
        if self.get_parameter("round").value >= 0:
            tags["round"] = int(self.get_parameter("round").value)
        try:
            index = self.recorder.start(None if at_first_sample else now, since=since, **tags)
        except StorageError as e:
            raise RuntimeError(self._storage_fault(e)) from None
        self._publish_status()
        return f"episode {index} started"

    def stop_episode(self, success: bool, now: float | None = None) -> str:
        try:
            summary = self.recorder.stop(time_now(self) if now is None else now, success)
        except StorageError as e:
            raise RuntimeError(self._storage_fault(e)) from None
        self.storage_error = ""
        if summary.get("discarded"):
            message = f"episode {summary['index']} had no ticks and was dropped"
        else:
            self.finished += 1
            message = (f"episode {summary['index']} saved: {summary['length']} ticks, "
                       f"{'success' if success else 'failure'}, "
                       f"{summary['counts'].get('ticks_flagged', 0)} flagged")
        self.get_logger().info(message)
        if self.config.episodes and self.finished >= self.config.episodes:
            self.done = True
        self._publish_status()
        return message

    def _srv_start(self, request, response):
        return self._answer(response, self.start_episode)

    def _srv_stop(self, request, response):
        return self._answer(response, lambda: self.stop_episode(bool(request.data)))

    def _srv_discard(self, request, response):
        return self._answer(response, lambda: f"episode {self.recorder.discard()} discarded")

    def _answer(self, response, action):
        try:
            response.message = action()
            response.success = True
        except RuntimeError as e:
            response.message, response.success = str(e), False
        self._publish_status()
        return response

    def _on_outcome(self, msg: String) -> None:
        if not self.config.stop_on_outcome or not self.recorder.recording:
            return
        try:
            outcome = json.loads(msg.data)
            end, success = float(outcome["end_stamp"]), bool(outcome["success"])
        except (ValueError, KeyError, TypeError) as e:
            self.get_logger().error(f"unreadable sim/outcome {msg.data!r}: {e}")
            return
        # `end` stamps the terminal state, which the sim never publishes: the episode's last
        # tick is the one before it, and the frame stamped `end` is the next episode's first.
        try:   # a storage fault is logged and counted where it happens
            self.stop_episode(success, now=end - 0.5 / self.config.rate_hz)
        except RuntimeError:
            pass
        if self.config.auto_start and not self.done and not self.recorder.recording:
            try:
                self.start_episode(now=end, since=end)  # the reset's first frame is at `end`
            except RuntimeError:
                pass

    def _on_joy(self, msg: Joy) -> None:
        cfg = self.config
        pressed = [b and not (i < len(self._joy_buttons) and self._joy_buttons[i])
                   for i, b in enumerate(msg.buttons)]
        self._joy_buttons = list(msg.buttons)

        def hit(button):
            return 0 <= button < len(pressed) and pressed[button]

        try:
            if hit(cfg.joy_start_button) and not self.recorder.recording:
                self.start_episode()
            elif hit(cfg.joy_success_button) and self.recorder.recording:
                self.stop_episode(True)
            elif hit(cfg.joy_failure_button) and self.recorder.recording:
                self.stop_episode(False)
            elif hit(cfg.joy_discard_button) and self.recorder.recording:
                self.recorder.discard()
        except RuntimeError as e:
            self.get_logger().warning(str(e))

    # ---- samples -----------------------------------------------------------------------------
    def report(self, stream: str, kind: str, text: str, error: bool = False) -> None:
        log_problem(self, self.problems, (stream, kind), text, error)

    def _add(self, stream, stamp, value) -> None:
        problem = self.recorder.add(stream, conv.time_from_msg(stamp), value)
        if problem:
            self.report(stream, problem.kind, problem)

    def _on_image(self, stream):
        def callback(msg):
            try:
                image = conv.image_from_msg(msg)
            except ValueError as e:
                kind = getattr(e, "kind", "encoding")   # encoding | data_length | decode
                self.recorder.counts[f"{stream}_bad_{kind}"] += 1
                self.report(stream, kind, f"{stream}: {e}", error=True)
                return
            self._add(stream, msg.header.stamp, image)
        return callback

    def _on_state(self, msg) -> None:
        cfg = self.config
        if cfg.state_type == "joint_state" and not cfg.joint_names:   # the message's order
            self._add("state", msg.header.stamp, msg.position)  # array('d'): no list of floats
            return
        try:
            values = conv.state_from_msg(msg, cfg.state_type, cfg.joint_names, cfg.state_dim)
        except ValueError as e:     # a joint missing, names and positions that disagree, ...
            kind = "joints" if cfg.state_type == "joint_state" else "message"
            self.recorder.counts[f"state_bad_{kind}"] += 1
            expected = (f"; expected joints {list(cfg.joint_names)}" if kind == "joints"
                        else "")
            self.report("state", kind, f"state: {e}{expected}", error=True)
            return
        # an unstamped state (Float64MultiArray) is stamped on arrival, as commands are
        stamp = getattr(getattr(msg, "header", None), "stamp", None)
        self._add("state", stamp if stamp is not None else self.get_clock().now().to_msg(),
                  values)

    def _on_command(self, stream):
        def callback(msg):
            try:
                values = conv.command_from_msg(msg, self.config.action_names,
                                               self.config.command_interface)
            except ValueError as e:
                self.recorder.counts[f"{stream}_wrong_size"] += 1
                self.report(stream, "size", f"{stream}: {e}", error=True)
                return
            # Unstamped commands (Twist, Float64MultiArray) are stamped on arrival.
            stamp = getattr(getattr(msg, "header", None), "stamp", None)
            if stamp is None or (stamp.sec == 0 and stamp.nanosec == 0):
                stamp = self.get_clock().now().to_msg()
            self._add(stream, stamp, values)
        return callback

    def _on_point(self, stream):
        def callback(msg):
            # unstamped (a zero stamp, e.g. `ros2 topic pub` without a header): stamped on
            # arrival like an unstamped command
            stamp = msg.header.stamp
            if stamp.sec == 0 and stamp.nanosec == 0:
                stamp = self.get_clock().now().to_msg()
            self._add(stream, stamp, (msg.point.x, msg.point.y, msg.point.z))
        return callback

    def _on_control(self, msg: Int8) -> None:
        self._add("control", self.get_clock().now().to_msg(), int(msg.data))

    # ---- ticks and status --------------------------------------------------------------------
    def _tick(self) -> None:
        if not self.recorder.recording:
            return
        now = time_now(self)
        if self.config.silence_warn_s > 0:
            for stream, age in self.recorder.silent_streams(now, self.config.silence_warn_s
                                                            ).items():
                self.report(stream, "silence", f"{stream}: nothing received " + (
                    "since the episode started" if age is None else f"for {age:.1f} s") +
                    " (its ticks are flagged missing or stale)")
        try:
            self.recorder.update(now)
        except StorageError as e:
            self._storage_fault(e)

    def _storage_fault(self, e: StorageError) -> str:
        """Count, log and report a storage fault; the node runs on. Returns the log line."""
        self.recorder.writer = None   # the episode was closed, or is left for recovery
        self.storage["disk_full" if isinstance(e, DiskFullError) else "storage_errors"] += 1
        self.storage_error = str(e)
        text = (f"{e}; finished episodes are safe. " +
                ("Free some disk space" if isinstance(e, DiskFullError) else
                 f"Check that {self.config.dataset} exists and can be written") +
                " and start a new episode.")
        self.get_logger().error(text)
        self._publish_status()
        return text

    def _check_topic_types(self) -> None:
        for text in self.type_check.check():   # a silent stream: say why
            self.recorder.counts["topic_type_mismatch"] += 1
            self.report("graph", "type", text, error=True)

    def _publish_status(self) -> None:
        status = self.recorder.status()
        status["episodes_saved"] = self.finished
        status["storage"] = dict(self.storage, error=self.storage_error)
        self.status_pub.publish(String(data=json.dumps(status)))
        self._publish_diagnostics()

    def _publish_diagnostics(self) -> None:
        """/diagnostics: ERROR while the last storage fault stands (until an episode is saved
        again), WARN when the dataset held leftovers of a crash, else OK."""
        values = {"recording": self.recorder.recording, "episodes_saved": self.finished,
                  "disk_full": self.storage["disk_full"],
                  "storage_errors": self.storage["storage_errors"],
                  "recovered_at_start": self.storage["recovered"],
                  "quarantined_at_start": self.storage["quarantined"],
                  "dataset": self.config.dataset}
        if self.storage_error:
            level, message = DiagnosticStatus.ERROR, self.storage_error
        elif self.storage["recovered"] or self.storage["quarantined"]:
            level, message = DiagnosticStatus.WARN, "leftovers of a crash recovered/quarantined"
        else:
            level, message = DiagnosticStatus.OK, "recording" if self.recorder.recording \
                else "idle"
        status = DiagnosticStatus(level=level, name=f"{self.get_name()}: recorder",
                                  message=message, hardware_id=self.get_fully_qualified_name(),
                                  values=[KeyValue(key=k, value=str(v))
                                          for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(array)

    # ---- shutdown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Finish an episode still recording (spin_node calls this on Ctrl-C or a launch
        shutdown): its ticks so far are saved as a failure, with ``stopped_by_shutdown`` in its
        counts. If even that fails, its ``.partial`` file stays, readable (SWMR), and the next
        recorder on this dataset publishes it flagged ``recovered``."""
        if not self.recorder.recording:
            return
        self.recorder.counts["stopped_by_shutdown"] += 1
        try:
            self.stop_episode(False)
        except Exception as e:  # noqa: BLE001 - a full disk, a context already shut down
            self.get_logger().error(f"could not finish the episode at shutdown ({e}); its "
                                    f".partial file is recovered when the dataset is next "
                                    f"opened")


def main(args=None) -> int:
    return spin_node(RecorderNode, args, config=RecorderNodeConfig, about=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
