"""dagger_node: the command mux of the DAgger coordinator - which command the robot executes.

Subscribes (reliable, except joy):
    policy/cmd             the policy's command (command_type)
    expert/cmd             the expert's command: teleop_node (a human) or sim_node's scripted expert
    expert/engaged         std_msgs/Bool: the human holds control (teleop_node publishes it)
    joy                    sensor_msgs/Joy, sensor-data QoS, only with joy_deadman_button >= 0:
                           the deadman button held engages the expert, like expert/engaged
    policy/uncertainty     std_msgs/Float32, reliable: the policy's ensemble disagreement score
                           for its latest command (``bc_ros.core.dagger.uncertainty``), read in
                           uncertainty mode; the policy node publishes it just before each
                           policy/cmd (NaN when it has no score for that command: never a request)
    sim/outcome            std_msgs/String JSON from sim_node: the episode ended (reset_on_outcome)
Publishes, once per control tick (rate_hz on the node's clock: sim time with use_sim_time):
    cmd                    what the robot executes (command_type, on robot_cmd_topic; a joint_trajectory: one
                           point at one control period, 1 / rate_hz: the mux decides one
                           command per tick, so a policy's chunk is not forwarded). A stop is
                           stop_command with command_interface velocity, and the last command
                           executed with position (hold; nothing before the first)
    dagger/control         std_msgs/Int8: the tick's source, recording.CONTROL_CODES (0 expert,
                           1 policy: the codes the recorder already stores; 2 hold, 3 blend, 4 stop)
    dagger/label           std_msgs/Bool: this tick's expert command is a training label (human
                           and uncertainty modes: the engaged expert's ticks; beta mode: every
                           tick with a fresh expert command)
and on change:
    dagger/events          std_msgs/String JSON {"event", "episode", "tick" (index in the episode),
                           "time", ...}; events:
                           intervention (a human took over), request (the robot asked for help),
                           handback (with "cause": human | request), stop (the robot is stopped:
                           "reason", "detail"; sent when a run of stop ticks starts or its reason
                           changes), episode_start ("round", "beta", "threshold"; sent
                           again for the same episode when parameters set before its first tick
                           restart it), episode_end
    dagger/status          std_msgs/String JSON, latched, at each episode end: "episode", "mode",
                           "round", "beta", "threshold" (uncertainty mode, else null), "reason"
                           (start_episode | outcome | shutdown), "outcome" (sim/outcome's JSON or
                           null), "stats" (``MuxStats.as_dict()``: with ``scored_ticks``,
                           ``uncertain_ticks`` and ``request_rate`` in uncertainty mode)
Services:
    ~/start_episode        std_srvs/Trigger: end the episode (status), start the next: control back
                           to the policy, stats reset, beta from the schedule at parameter
                           ``round`` (beta mode; a per-episode draw with beta_draw=episode)
Parameters ``round``, ``beta``, the ``beta_*`` schedule fields and, for the robot-gated mode,
``uncertainty_threshold``, ``agree_tol`` and ``agree_ticks`` can be set while running
(``ros2 param set /dagger uncertainty_threshold 0.12``; a bad value is refused with the reason and
changes nothing). They apply from the next episode, or at once to an episode that has not ticked yet
(the one that began when the last ended: a coordinator that sets the next round's values between
rounds gets them for every episode of the round). The other fields are read at start-up.

Time. Every input is stamped with its arrival time on the node's clock, and a tick at time ``now``
sees the latest of each: an input that arrives between two ticks governs the next one, so the
expert's override takes at most one control period (``CommandMux``'s timeline). With
``use_sim_time`` the timer runs on /clock; a clock that jumps backwards (a restarted sim) drops the
cached inputs, which were stamped in the future.

Engaged. ``expert/engaged`` and the Joy deadman are two flags, each with its arrival time. The mux
sees the fresh flag that says true if there is one; else the newest fresh one (false); else the
newest one, stale: a stale true (the teleop went silent mid-intervention) stops the robot until a
fresh flag arrives.

The decisions (override, hysteresis, blend, stale-input stop, beta mixing, robot-gated requests)
are ``bc_ros.core.dagger.mux.CommandMux``'s; this node caches inputs, ticks it and publishes.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_msgs.msg import Bool, Float32, Int8, String
from std_srvs.srv import Trigger

from bc_ros.core.commands import StopCommand
from bc_ros.core.config import field
from bc_ros.core.dagger.mux import TIME_EPS, CommandMux, MuxConfig, MuxDecision
from bc_ros.core.dagger.schedules import BetaSchedule, make_schedule
from bc_ros.core.data.recording import CONTROL_CODES
from bc_ros.core.throttle import ProblemLog
from bc_ros.nodes import conversions as conv
from bc_ros.nodes.params import declare_config
from bc_ros.nodes.runtime import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS, log_problem, spin_node

BETA_FIELDS = ("beta_schedule", "beta", "beta_start", "beta_end", "beta_rounds", "beta_decay",
               "round")
UNCERTAINTY_FIELDS = ("uncertainty_threshold", "agree_tol", "agree_ticks")
RUNTIME_FIELDS = BETA_FIELDS + UNCERTAINTY_FIELDS   # settable while running


@dataclasses.dataclass
class DaggerNodeConfig(MuxConfig):
    """Parameters of ``dagger_node``: the mux's (``MuxConfig``) plus topics, rate and beta."""

    PROFILE_FIELD = "robot"    # a robot profile fills actions, command type, stop, rate, topic

    robot: str = field("", "Robot profile (a shipped name such as drone or arm, or a YAML "
                           "path): action_names, command_type, stop_command, rate_hz and "
                           "robot_cmd_topic. Parameters set explicitly still win.")
    robot_cmd_topic: str = field("cmd", "Where the executed command goes: the robot's command "
                                        "topic.")
    rate_hz: float = field(10.0, "Control ticks per second on the node's clock (sim time with "
                                 "use_sim_time). Use the policy's and the recorder's rate.")
    action_names: list[str] = field(["vx", "vy", "vz", "yaw_rate"],
                                    "Command dimensions, in order (drone: vx vy vz yaw_rate; "
                                    "arm: vx vy vz); stop_command has one value per name.")
    command_type: str = field("twist", "Message type of policy/cmd, expert/cmd and cmd: twist, "
                                       "twist_stamped (cmd_vel from Jazzy on), "
                                       "float64_multi_array (ros2_control "
                                       "forward_command_controller), joint_state, "
                                       "joint_trajectory (ros2_control "
                                       "joint_trajectory_controller; the first point is read).")
    command_interface: str = field("velocity", "What the commands are, velocity or position: "
                                               "the JointState / JointTrajectoryPoint field "
                                               "read and written, and the stop (velocity: "
                                               "stop_command; position: hold the last command "
                                               "executed, stop_command unused).")
    trigger: str = field("timer", "timer: tick at rate_hz; inputs: tick once per sim-clock "
                                  "instant as soon as the policy's command (and, with "
                                  "wait_for_expert, the expert's) for it has arrived: lockstep "
                                  "with sim_node and policy_node, deterministic.")
    wait_for_expert: bool = field(False, "trigger=inputs: also wait for the expert's command of "
                                         "the instant (a scripted expert that always publishes).")
    wait_for_engaged: bool = field(False, "trigger=inputs: also wait for the expert/engaged flag "
                                          "of the instant (sim_node's simulated human, which "
                                          "publishes it every tick).")
    wait_for_score: bool = field(False, "trigger=inputs: also wait for policy/uncertainty of the "
                                        "instant (a policy_node with an ensemble publishes one, "
                                        "NaN if it has none, before every command).")
    joy_deadman_button: int = field(-1, "Joy button that engages the expert while held, as "
                                        "expert/engaged does (-1 = do not subscribe to joy).")
    reset_on_outcome: bool = field(True, "End the episode (status) and start the next when "
                                         "sim/outcome reports an episode end.")
    seed: int = field(0, "Seed of the beta-mode generator (one generator for the whole run).")
    beta_schedule: str = field("constant", "Beta mode: constant (beta), linear (beta_start to "
                                           "beta_end over beta_rounds rounds) or exponential "
                                           "(beta_start * beta_decay ** round).")
    beta: float = field(0.5, "Constant schedule: probability that the expert's command executes.")
    beta_start: float = field(1.0, "Linear and exponential schedules: beta at round 0.")
    beta_end: float = field(0.0, "Linear schedule: beta from round beta_rounds on.")
    beta_rounds: int = field(10, "Linear schedule: rounds from beta_start to beta_end.")
    beta_decay: float = field(0.5, "Exponential schedule: factor per round, in (0, 1].")
    round: int = field(0, "DAgger round (from 0): picks beta from the schedule at each episode "
                          "start. Settable while running.")

    def __post_init__(self):
        super().__post_init__()
        conv.check_command_type(self.command_type, self.action_names, self.command_interface)
        if len(self.stop_command) != len(self.action_names):
            raise ValueError(f"stop_command needs one value per action name "
                             f"{self.action_names}, got {self.stop_command=}")
        if self.trigger not in ("timer", "inputs"):
            raise ValueError(f"trigger must be timer or inputs, got {self.trigger=}")
        if not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"rate_hz must be > 0, got {self.rate_hz=}")
        if isinstance(self.round, bool) or not isinstance(self.round, int) or self.round < 0:
            raise ValueError(f"round must be an integer >= 0, got {self.round=}")
        self.schedule()  # validates the beta fields

    def schedule(self) -> BetaSchedule:
        """The beta schedule the ``beta_*`` fields describe."""
        kwargs = {"constant": {"beta": self.beta},
                  "linear": {"start": self.beta_start, "end": self.beta_end,
                             "rounds": self.beta_rounds},
                  "exponential": {"start": self.beta_start, "decay": self.beta_decay},
                  }.get(self.beta_schedule, {})
        return make_schedule(self.beta_schedule, **kwargs)


class DaggerNode(Node):
    """Caches the latest inputs, ticks the ``CommandMux`` at ``rate_hz``, publishes the result.

    ``clock`` (seconds) replaces the node's clock and ``tick_timer=False`` leaves the ticking to
    the caller (``tick()``): tests drive time themselves.
    """

    def __init__(self, overrides: dict | None = None, *, clock=None, tick_timer: bool = True,
                 **node_kwargs):
        super().__init__("dagger", **node_kwargs)
        self.config: DaggerNodeConfig = declare_config(self, DaggerNodeConfig, overrides)
        cfg = self.config
        self._time_fn = clock
        self.rng = np.random.default_rng(cfg.seed)
        self.mux = CommandMux(cfg, rng=self.rng)
        self.stopper = StopCommand(cfg.stop_command, cfg.command_interface)
        self.episode = -1
        self.tick_count = 0                 # ticks of this episode
        self.received = {"policy": 0, "expert": 0, "engaged": 0, "joy": 0, "score": 0,
                         "rejected": 0, "stops_unsent": 0}
        self.problems = ProblemLog(2.0)     # one log throttle per (source, problem)
        self._policy = self._expert = self._score = None   # (value, arrival time)
        self._flags: dict[str, tuple[bool, float]] = {}    # "topic" | "joy" -> (value, time)
        self._last_now: float | None = None
        self._stop_reason: str | None = None
        self._beta: float | None = None
        self._threshold: float | None = None
        self._round = cfg.round

        cmd_type = conv.command_class(cfg.command_type)
        self.cmd_pub = self.create_publisher(cmd_type, cfg.robot_cmd_topic, COMMAND_QOS)
        self.control_pub = self.create_publisher(Int8, "dagger/control", COMMAND_QOS)
        self.label_pub = self.create_publisher(Bool, "dagger/label", COMMAND_QOS)
        self.events_pub = self.create_publisher(String, "dagger/events", COMMAND_QOS)
        self.status_pub = self.create_publisher(String, "dagger/status", LATCHED_QOS)
        self.create_subscription(cmd_type, "policy/cmd", self._on_command("policy"), COMMAND_QOS)
        self.create_subscription(cmd_type, "expert/cmd", self._on_command("expert"), COMMAND_QOS)
        self.create_subscription(Bool, "expert/engaged", self._on_engaged, COMMAND_QOS)
        self.create_subscription(Float32, "policy/uncertainty", self._on_score, COMMAND_QOS)
        self.create_subscription(String, "sim/outcome", self._on_outcome, COMMAND_QOS)
        if cfg.joy_deadman_button >= 0:
            self.create_subscription(Joy, "joy", self._on_joy, SENSOR_QOS)
        self.create_service(Trigger, "~/start_episode", self._srv_start)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.start_episode()
        if tick_timer and cfg.trigger == "timer":
            self.create_timer(1.0 / cfg.rate_hz, self.tick)
        how = {"human": f"human override ({cfg.engage_source})",
               "beta": f"beta mixing ({cfg.beta_schedule} schedule, draw per {cfg.beta_draw})",
               "uncertainty": f"robot-gated, threshold {cfg.uncertainty_threshold:g}"}[cfg.mode]
        self.get_logger().info(f"command mux at {cfg.rate_hz:g} Hz: {how}; "
                               f"{cfg.command_type} commands {list(cfg.action_names)}")

    # ---- time --------------------------------------------------------------------------------
    def now(self) -> float:
        if self._time_fn is not None:
            return float(self._time_fn())
        return self.get_clock().now().nanoseconds * 1e-9

    # ---- inputs ------------------------------------------------------------------------------
    def _on_command(self, name: str):
        def callback(msg):
            try:
                values = conv.command_from_msg(msg, self.config.action_names,
                                               self.config.command_interface)
            except ValueError as e:
                # Cached as an empty command: the mux stops the robot (<name>_invalid) rather than
                # keep executing the previous command of a source that now sends garbage.
                values = np.zeros(0)
                self.received["rejected"] += 1
                self.received[f"{name}_rejected"] = self.received.get(f"{name}_rejected", 0) + 1
                log_problem(self, self.problems, (name, "invalid"), f"{name}/cmd: {e}",
                            error=True)
            self.received[name] += 1
            if name == "policy":
                self._policy = (values, self.now())
            else:
                self._expert = (values, self.now())
            if self.config.trigger == "inputs":
                self._tick_when_complete()
        return callback

    def _tick_when_complete(self) -> None:
        """trigger=inputs: one tick per clock instant, once its inputs are all in."""
        now = self.now()
        if self._last_now is not None and now == self._last_now:
            return                                    # this instant was ticked already
        if self._policy is None or self._policy[1] != now:
            return
        cfg = self.config
        if cfg.wait_for_expert and (self._expert is None or self._expert[1] != now):
            return
        flag = self._flags.get("topic")
        if cfg.wait_for_engaged and (flag is None or flag[1] != now):
            return
        if cfg.wait_for_score and (self._score is None or self._score[1] != now):
            return
        self.tick()

    def _on_engaged(self, msg: Bool) -> None:
        self.received["engaged"] += 1
        self._flags["topic"] = (bool(msg.data), self.now())
        if self.config.trigger == "inputs" and self.config.wait_for_engaged:
            self._tick_when_complete()

    def _on_joy(self, msg: Joy) -> None:
        button = self.config.joy_deadman_button
        if button >= len(msg.buttons):
            log_problem(self, self.problems, ("joy", "buttons"), f"Joy message has "
                        f"{len(msg.buttons)} buttons, the deadman is button {button}", error=True)
            return
        self.received["joy"] += 1
        self._flags["joy"] = (bool(msg.buttons[button]), self.now())

    def _on_score(self, msg: Float32) -> None:
        self.received["score"] += 1
        self._score = (float(msg.data), self.now())
        if self.config.trigger == "inputs" and self.config.wait_for_score:
            self._tick_when_complete()

    def engaged(self, now: float) -> tuple[bool | None, float | None]:
        """The flag the mux sees: a fresh true, else the newest fresh, else the newest (stale)."""
        if not self._flags:
            return None, None
        flags = [(stamp, value) for value, stamp in self._flags.values()]
        fresh = [f for f in flags if now - f[0] <= self.config.engaged_timeout + TIME_EPS]
        stamp, value = max([f for f in fresh if f[1]] or fresh or flags)
        return value, stamp

    # ---- the tick ----------------------------------------------------------------------------
    def tick(self) -> MuxDecision:
        """One control tick: decide, publish cmd, dagger/control, dagger/label (and events)."""
        now = self.now()
        if self._last_now is not None and now < self._last_now:
            self.get_logger().warning(f"clock jumped back from {self._last_now:.3f} s to "
                                      f"{now:.3f} s: dropping inputs received before")
            self._policy = self._expert = self._score = None
            self._flags.clear()
        self._last_now = now
        inputs = {}
        if self._policy is not None:
            inputs.update(policy_cmd=self._policy[0], policy_stamp=self._policy[1])
        if self._expert is not None:
            inputs.update(expert_cmd=self._expert[0], expert_stamp=self._expert[1])
        engaged, engaged_stamp = self.engaged(now)
        if engaged is not None:
            inputs.update(engaged=engaged, engaged_stamp=engaged_stamp)
        score = self._score
        if score is not None and now - score[1] <= self.config.policy_timeout + TIME_EPS:
            inputs["score"] = score[0]
        decision = self.mux.tick(now, **inputs)

        cfg = self.config
        stamp = conv.time_to_msg(now)
        command = self.stopper.command() if decision.source == "stop" else decision.command
        if command is None:     # position interface, nothing executed yet: nothing to hold
            self.received["stops_unsent"] += 1
        else:
            self.cmd_pub.publish(conv.command_to_msg(command, cfg.action_names,
                                                     cfg.command_type, stamp,
                                                     interface=cfg.command_interface,
                                                     period=1.0 / cfg.rate_hz))
            self.stopper.sent(command)
        self.control_pub.publish(Int8(data=CONTROL_CODES[decision.source]))
        self.label_pub.publish(Bool(data=bool(decision.record_label)))
        if decision.event == "takeover":
            self._event("intervention" if decision.cause == "human" else "request", now)
        elif decision.event == "handback":
            self._event("handback", now, cause=decision.cause)
        if decision.stop_reason != self._stop_reason and decision.stop_reason is not None:
            self._event("stop", now, reason=decision.stop_reason, detail=decision.detail)
            log_problem(self, self.problems, ("stop", decision.stop_reason),
                        f"stopping the robot: {decision.detail}")
        self._stop_reason = decision.stop_reason
        self.tick_count += 1
        return decision

    def _event(self, event: str, now: float, **fields) -> None:
        self.events_pub.publish(String(data=json.dumps(
            {"event": event, "episode": self.episode, "tick": self.tick_count, "time": now,
             **fields})))

    # ---- episodes ----------------------------------------------------------------------------
    def start_episode(self) -> str:
        """End the current episode (if one ran) and start the next under policy control."""
        if self.episode >= 0:
            self.end_episode("start_episode")
        return self._begin_episode()

    def _begin_episode(self, again: bool = False) -> str:
        """Start the next episode (``again``: restart the current one, which has not ticked, with
        the config as it is now)."""
        cfg = self.config
        self._round = cfg.round
        self._beta = cfg.schedule()(cfg.round) if cfg.mode == "beta" else None
        self._threshold = cfg.uncertainty_threshold if cfg.mode == "uncertainty" else None
        self.mux.config = cfg
        self.mux.start_episode(beta=self._beta)
        if not again:
            self.episode += 1
        self.tick_count = 0
        self._stop_reason = None
        self._event("episode_start", self.now(), round=self._round, beta=self._beta,
                    threshold=self._threshold)
        beta = f", beta {self._beta:.3f}" if self._beta is not None else ""
        threshold = f", threshold {self._threshold:.4g}" if self._threshold is not None else ""
        return f"episode {self.episode} started (round {self._round}{beta}{threshold})"

    def end_episode(self, reason: str, outcome: dict | None = None) -> dict:
        """Publish the episode's stats on dagger/status (latched) and log them."""
        stats = self.mux.stats.as_dict()
        status = {"episode": self.episode, "mode": self.config.mode, "round": self._round,
                  "beta": self._beta, "threshold": self._threshold, "reason": reason,
                  "outcome": outcome, "stats": stats}
        self.status_pub.publish(String(data=json.dumps(status)))
        self._event("episode_end", self.now(), reason=reason)
        self.get_logger().info(
            f"episode {self.episode} ended ({reason}): {stats['ticks']} ticks, "
            f"{100 * stats['autonomous_fraction']:.0f}% autonomous, "
            f"{stats['interventions']} interventions, {stats['requests']} requests, "
            f"{stats['labels']} labels, {stats['stop_ticks']} stop ticks "
            f"{stats['stop_reasons'] or ''}".rstrip())
        return status

    def _srv_start(self, request, response):
        response.message = self.start_episode()
        response.success = True
        return response

    def _on_outcome(self, msg: String) -> None:
        if not self.config.reset_on_outcome:
            return
        try:
            outcome = json.loads(msg.data)
        except ValueError as e:
            self.get_logger().error(f"unreadable sim/outcome {msg.data!r}: {e}")
            outcome = None
        self.end_episode("outcome", outcome)
        self._begin_episode()

    # ---- runtime parameters ------------------------------------------------------------------
    def _on_set_parameters(self, params) -> SetParametersResult:
        fields = {f.name for f in dataclasses.fields(DaggerNodeConfig)}
        changes = {p.name: p.value for p in params if p.name in fields}
        fixed = sorted(set(changes) - set(RUNTIME_FIELDS))
        if fixed:
            return SetParametersResult(successful=False, reason=f"{fixed} are read at start-up: "
                                                                f"restart the node")
        try:
            config = dataclasses.replace(self.config, **changes)
        except ValueError as e:
            return SetParametersResult(successful=False, reason=str(e))
        self.config = config
        if self.tick_count == 0 and self.episode >= 0:
            # Nothing of this episode has run yet (e.g. it began when the last one ended and the
            # coordinator now sets the next round): it starts over with the new values.
            self._begin_episode(again=True)
        return SetParametersResult(successful=True)

    def close(self) -> None:
        """Publish the last episode's stats (spin_node calls this on the way out)."""
        try:
            self.end_episode("shutdown")
        except Exception:  # noqa: BLE001 - a launch shutdown may have invalidated the context
            pass


def main(args=None) -> int:
    return spin_node(DaggerNode, args, config=DaggerNodeConfig, about=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
