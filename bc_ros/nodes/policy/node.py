"""policy_node: a trained policy (checkpoint from ``bc-ros train``) driving a robot or a sim.

Subscribes (sensor-data QoS; the topics the checkpoint's spec names, all remappable):
    camera/<name>/image_raw   sensor_msgs/Image (rgb8, bgr8, mono8, rgba8, bgra8), one per camera;
                              with image_transport=compressed camera/<name>/image_raw/compressed,
                              sensor_msgs/CompressedImage (JPEG or PNG)
    odom | joint_states       nav_msgs/Odometry | sensor_msgs/JointState, or pose
    | pose | state            (geometry_msgs/PoseStamped), state (std_msgs/Float64MultiArray)
                              when the policy uses state (``state_type``, ``state_topic``; a
                              ``robot`` profile sets both, and the cameras' topics)
    goal                      geometry_msgs/PointStamped, for a goal-conditioned checkpoint
                              (``goal_topic``): no goal yet, a non-finite or a stale one
                              (``goal_timeout``) means the stop command; a new goal acts from the
                              next inference
    sim/outcome               std_msgs/String JSON from sim_node: an episode ended, so the policy's
                              history and action queue are cleared (``reset_on_outcome``)
Publishes:
    policy/cmd                the command, in the checkpoint's command type (``cmd_topic``); a
                              stamped type carries the exact stamp of the observation it answers
                              (lockstep) or of its tick (realtime); a joint_trajectory carries
                              this tick's action at one period (1 / rate_hz), or with
                              ``publish_chunk`` the rest of the chunk being executed, point k at
                              k periods, and a zero stamp (start on receipt)
    policy/uncertainty        std_msgs/Float32, with ``ensemble`` only: the members' disagreement
                              at the observation, published just before its command; before
                              any other command (stop, refused observation) or when a member
                              gave a non-finite action, NaN: every command has its score
    /diagnostics              diagnostic_msgs/DiagnosticArray every ``diagnostics_period`` s:
                              achieved rate, inference time, overruns, watchdog state, counts
Services:
    ~/reset                   std_srvs/Trigger: clear the policy's history and action queue
    ~/enable                  std_srvs/SetBool: start / stop publishing (disabling sends one stop
                              command; enabling starts from a cleared history)
    ~/load_checkpoint         std_srvs/Trigger: swap in the checkpoint named by the ``checkpoint``
                              parameter and the members named by ``ensemble`` together (set them
                              first, best in one call: setting either starts loading both in a
                              thread of their own, so the call only waits for what is left of
                              the load); if any of them fails to load, the old policy and the old
                              members keep running and the answer says which file and why

Each observation is assembled with ``StreamAligner`` (the recorder's rule: each stream's latest
sample at or before the tick, no older than ``obs_timeout``) and turned into a command by
``PolicyRunner`` (the code path of ``bc-ros eval``: spec checks, resizing, chunk queue, NaN and
clamping). Two modes:

- ``realtime``: a timer on the node's clock (sim time with ``use_sim_time``) ticks at ``rate_hz``.
  A tick never runs the model: it hands the observation to the inference thread, which publishes
  the command as soon as it is computed. While the thread is still busy with an earlier tick
  (a chunk that takes longer than a period) the tick is skipped and counted; the last command
  stands. Watchdog: at a tick where a stream is missing or older than ``obs_timeout`` the stop
  command is published (so within one tick of the data going stale), every tick until fresh data
  returns; then the policy restarts from a cleared history (its queued actions were planned from
  data that is now old). A command still being computed when the watchdog trips is dropped.
- ``lockstep`` (with ``sim_node`` in lockstep): every new complete observation (every stream has a
  sample with the same stamp) triggers exactly one command, so the ROS closed loop computes what
  ``bc-ros eval`` computes. A repeated observation (same stamp) is not computed again; its command
  is sent again only if nobody was subscribed when it first went out.

Its parts: ``bc_ros.nodes.policy.ticking`` decides what a tick or an observation leads to (the
watchdog, lockstep); ``bc_ros.nodes.policy.inference`` runs the inference thread, loads
checkpoints and swaps them; ``bc_ros.nodes.policy.diagnostics`` keeps the counts and figures
of /diagnostics. This node converts messages, calls them and publishes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from std_msgs.msg import Float32, String
from std_srvs.srv import SetBool, Trigger

from bc_ros.core.commands import StopCommand
from bc_ros.core.config import field
from bc_ros.core.dagger.uncertainty import half_range_scale
from bc_ros.core.policy.backend import BACKENDS
from bc_ros.core.policy.goal import GoalInput
from bc_ros.core.throttle import ProblemLog
from bc_ros.nodes import conversions as conv
from bc_ros.nodes.params import declare_config
from bc_ros.nodes.policy.diagnostics import OK, WARN, PolicyStats, diagnostics_values, summary
from bc_ros.nodes.policy.inference import InferenceWorker, Preload, Result, load_runner, swap_spec
from bc_ros.nodes.policy.ticking import (INFER, REJECTED, REPEAT, RESTARTED, STOP, SentCommand,
                                         Ticker, TickDecision)
from bc_ros.nodes.runtime import (COMMAND_QOS, SENSOR_QOS, CpuLatencyRequest, TopicTypeCheck,
                                  log_problem, spin_node)

MODES = ("realtime", "lockstep")
STATE_TYPES = ("auto", *conv.STATE_MESSAGES, "none")


@dataclasses.dataclass
class PolicyNodeConfig:
    """Parameters of ``policy_node`` (and ``bc-ros policy``)."""

    PROFILE_FIELD = "robot"    # a robot profile fills limits, stop, rate, topics, types

    robot: str = field("", "Robot profile (a shipped name such as drone or arm, or a YAML "
                           "path): command limits, stop command, rate, camera and state topics, "
                           "joint order, command type. Empty: the checkpoint's recording "
                           "profile where it has one. Parameters set explicitly still win.")
    checkpoint: str = field("", "Policy checkpoint file (bc-ros train --out). Required. Set it "
                                "and call ~/load_checkpoint to swap policies while running.")
    mode: str = field("realtime", "realtime: command at rate_hz on the node's clock; lockstep: "
                                  "one command per new complete observation (sim_node lockstep).")
    rate_hz: float = field(10.0, "Control rate (realtime). Use the rate the policy was trained "
                                 "at (the recorder's rate_hz). Also the per-tick inference "
                                 "budget counted in diagnostics (both modes).")
    obs_timeout: float = field(0.25, "Seconds. A stream whose latest sample at a tick is older "
                                     "than this (or absent) trips the watchdog (realtime: the "
                                     "stop command goes out instead of the policy's).")
    low: list[float] = field([], "Lower command limits, one per action of the checkpoint (its "
                                 "action_names order); empty = the robot profile's.")
    high: list[float] = field([], "Upper command limits, one per action.")
    stop_command: list[float] = field([], "Command sent by the watchdog, on a non-finite "
                                          "action or a rejected observation; empty = zeros "
                                          "(clamped to the limits). Velocity interface only: "
                                          "with command_interface position the stop holds the "
                                          "last position commanded (nothing is sent before "
                                          "the first).")
    resize_images: bool = field(False, "Resize camera images whose size differs from the "
                                       "checkpoint's; off: such observations are refused and "
                                       "the stop command is sent.")
    image_transport: str = field("raw", "raw: sensor_msgs/Image on camera/<name>/image_raw; "
                                        "compressed: sensor_msgs/CompressedImage (JPEG or PNG, "
                                        "image_transport's compressed plugin) on "
                                        "camera/<name>/image_raw/compressed.")
    state_topic: str = field("", "Topic of the state; empty = its type's default: odom, "
                                 "joint_states, pose or state.")
    state_type: str = field("auto", "Robot state stream: odometry (odom), joint_state "
                                    "(joint_states), pose_stamped (pose), float64_multi_array "
                                    "(state), none, or auto (from the checkpoint).")
    command_type: str = field("", "Command message type: twist, twist_stamped (cmd_vel from "
                                  "Jazzy on), float64_multi_array (ros2_control "
                                  "forward_command_controller), joint_state, joint_trajectory "
                                  "(ros2_control joint_trajectory_controller); empty = the "
                                  "checkpoint's.")
    command_interface: str = field("", "What the actions are: velocity or position; picks the "
                                       "JointState / JointTrajectoryPoint field that carries "
                                       "them and what a stop is (velocity: stop_command; "
                                       "position: hold the last position commanded). Empty = "
                                       "the checkpoint's (velocity for older ones).")
    publish_chunk: bool = field(False, "joint_trajectory only: publish the rest of the chunk "
                                       "the policy is executing (this tick's action and the "
                                       "ones queued for the next ticks), point k at k / rate_hz "
                                       "s, instead of one point; each tick's trajectory replaces "
                                       "the last.")
    cmd_topic: str = field("policy/cmd", "Topic the commands are published on.")
    goal_topic: str = field("goal", "Goal-conditioned checkpoints: topic of the goal "
                                    "(geometry_msgs/PointStamped, x y z). Without a goal, or "
                                    "with a non-finite or stale one, the stop command is sent.")
    goal_timeout: float = field(0.0, "Seconds after which a goal is stale (0: a goal holds "
                                     "until the next one).")
    checkpoint_dirs: list[str] = field([], "Folders a checkpoint may be loaded from while "
                                           "running (~/load_checkpoint, set on checkpoint or "
                                           "ensemble); empty = any. A file elsewhere is "
                                           "refused before it is read, logged and counted "
                                           "(loads_refused).")
    state_file: str = field("", "JSON file where the node keeps what ~/load_checkpoint last "
                                "loaded (written atomically). On start, a file written for the "
                                "same checkpoint and ensemble parameters as now (a respawn) "
                                "makes the node load that swapped-in checkpoint instead, if it "
                                "still loads and lies within checkpoint_dirs. Empty: not kept "
                                "(policy.launch.py sets it under ROS_HOME).")
    ensemble: list[str] = field([], "More checkpoints of the same spec. Each observation also "
                                    "runs through them and their disagreement with the main "
                                    "policy (std across members / half the command range, mean "
                                    "over dims) goes out on policy/uncertainty before the "
                                    "command: dagger_node's robot-gated mode reads it. Set it "
                                    "(with checkpoint) and call ~/load_checkpoint to swap the "
                                    "members while running.")
    enabled: bool = field(True, "Publish commands from the start (false: wait for ~/enable).")
    reset_on_outcome: bool = field(True, "Clear the policy's history when sim/outcome reports "
                                         "the end of an episode.")
    seed: int = field(0, "Seed of the sampling generator (stochastic heads), set at every "
                         "checkpoint load.")
    backend: str = field("torch", "Where the model runs: torch (eager PyTorch) or onnxruntime "
                                  "(each checkpoint is exported to ONNX when it loads, about "
                                  "1 s, and checked against PyTorch; 2-3x faster at batch 1: "
                                  "benchmarks/bench_policy_node.py --backend).")
    torch_threads: int = field(0, "Intra-op threads of the inference thread (0 = torch's "
                                  "default; onnxruntime: 0 means 1). 1 keeps a small policy "
                                  "from fighting the executor on a 2-core machine.")
    cpu_dma_latency_us: int = field(-1, "-1: leave the CPUs' power management alone. >= 0: "
                                        "while the node runs, ask Linux (/dev/cpu_dma_latency) "
                                        "to keep the CPUs out of idle states slower to leave "
                                        "than this, as real-time tuning does (0: never idle "
                                        "deeply). Cuts the latency of a model that waits between "
                                        "observations; costs power; needs write access to the "
                                        "device, else a warning and no change.")
    diagnostics_period: float = field(1.0, "Seconds (wall clock) between /diagnostics messages.")
    n_action_steps: int = field(0, "Actions executed from each predicted chunk before the next "
                                   "(1..the checkpoint's horizon); 0 = the checkpoint's. Fewer "
                                   "re-plan more often: more closed loop, more inference.")
    chunk_candidates: int = field(0, "Coherent chunks: candidates drawn per chunk, the one that "
                                     "continues the last chunk's plan is kept (1 = off); 0 = "
                                     "the checkpoint's.")

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode=}")
        if self.state_type not in STATE_TYPES:
            raise ValueError(f"state_type must be one of {STATE_TYPES}, got {self.state_type=}")
        if not self.rate_hz > 0 or not self.obs_timeout > 0 or not self.diagnostics_period > 0:
            raise ValueError(f"rate_hz, obs_timeout and diagnostics_period must be > 0, got "
                             f"{self.rate_hz=} {self.obs_timeout=} {self.diagnostics_period=}")
        if self.command_type:
            conv.command_class(self.command_type)
        conv.check_image_transport(self.image_transport)
        if self.command_interface and self.command_interface not in conv.COMMAND_INTERFACES:
            raise ValueError(f"command_interface must be one of {conv.COMMAND_INTERFACES} or "
                             f"empty (the checkpoint's), got {self.command_interface=}")
        if self.publish_chunk and self.command_type not in ("", "joint_trajectory"):
            raise ValueError(f"publish_chunk needs command_type joint_trajectory (a chunk is a "
                             f"trajectory), got {self.command_type=}")
        if self.cpu_dma_latency_us < -1:
            raise ValueError(f"cpu_dma_latency_us must be -1 (untouched) or >= 0, got "
                             f"{self.cpu_dma_latency_us=}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend=}")
        if self.torch_threads < 0:
            raise ValueError(f"torch_threads must be >= 0, got {self.torch_threads=}")
        if self.goal_timeout < 0:
            raise ValueError(f"goal_timeout must be >= 0, got {self.goal_timeout=}")
        if self.n_action_steps < 0 or self.chunk_candidates < 0:
            raise ValueError(f"n_action_steps and chunk_candidates must be >= 0 (0: the "
                             f"checkpoint's), got {self.n_action_steps=} "
                             f"{self.chunk_candidates=}")


def state_type_for(spec: dict, requested: str) -> str:
    """Which state stream a checkpoint needs: one of ``conv.STATE_MESSAGES`` or none."""
    dim = int(spec.get("state_dim") or 0)
    if dim == 0:
        return "none"
    if requested == "none":
        raise ValueError(f"the checkpoint's policy uses a {dim}-value state; state_type none "
                         f"cannot feed it")
    kind = requested
    if kind == "auto":
        names = spec.get("state_names") or []
        prefixes = {str(n).rsplit("_", 1)[0] for n in names}
        recorded = ((spec.get("robot_profile") or {}).get("state") or {}).get("type")
        if recorded in conv.STATE_MESSAGES:               # the recording's profile says
            kind = recorded
        elif prefixes == {"odometry"}:                   # recordings from before profiles
            kind = "odometry"
        elif prefixes == {"joint_state"}:
            kind = "joint_state"
        elif (shipped := shipped_state_type(spec.get("robot"))):   # the profile it names
            kind = shipped
        else:
            raise ValueError(f"cannot tell the state stream of the checkpoint (robot "
                             f"{spec.get('robot')!r}, state_names {names}); set state_type to "
                             f"one of {list(conv.STATE_MESSAGES)}")
    fixed = conv.STATE_MESSAGES[kind][2]
    if fixed is not None and dim != fixed:
        raise ValueError(f"{kind} gives {fixed} state values, the checkpoint's policy wants "
                         f"{dim}")
    return kind


def shipped_state_type(robot) -> str | None:
    """The state type of the shipped profile named ``robot`` (checkpoints from before profiles
    name their sim robot), None when there is none."""
    from bc_ros.core.robot import ProfileError, load_profile

    if not robot:
        return None
    try:
        kind = load_profile(str(robot)).state.type
    except ProfileError:
        return None
    return kind if kind != "none" else None


def camera_topics(cameras: list[str], transport: str, profile=None) -> dict[str, str]:
    """Stream -> topic of each camera the checkpoint uses: the profile's topic for it, else
    camera/<name>/image_raw (+ /compressed). A camera the profile lacks is an error."""
    topics = {}
    if profile is not None:
        known = {c.name: c.topic for c in profile.cameras}
        missing = [c for c in cameras if c not in known]
        if missing:
            raise ValueError(f"the checkpoint's policy uses cameras {cameras}, the robot "
                             f"profile {profile.name!r} ({profile.source}) has "
                             f"{list(known)}: {missing} missing")
    for c in cameras:
        topic = known[c] if profile is not None else ""
        topics[f"image_{c}"] = topic or conv.camera_topic(c, transport)
    return topics


def joint_order(spec: dict, profile, state_type: str) -> list[str]:
    """The joints the policy's state is read from, in order: the node's profile's, else those
    of the checkpoint's recording profile; [] = the message's order (recordings before
    profiles). A count that disagrees with the checkpoint's state is an error."""
    if state_type != "joint_state":
        return []
    if profile is not None:
        joints, where = list(profile.state.joints), f"robot profile {profile.name!r}"
    else:
        recorded = spec.get("robot_profile") or {}
        joints = list((recorded.get("state") or {}).get("joints") or [])
        where = "the checkpoint's recording profile"
    dim = int(spec.get("state_dim") or 0)
    if joints and len(joints) != dim:
        raise ValueError(f"the checkpoint's policy reads {dim} state values, {where} lists "
                         f"{len(joints)} joints {joints}")
    return joints


LEVELS = {OK: DiagnosticStatus.OK, WARN: DiagnosticStatus.WARN}
GOAL_POINT_DIM = 3          # geometry_msgs/PointStamped: x, y, z


class PolicyNode(Node):
    def __init__(self, overrides: dict | None = None, **node_kwargs):
        super().__init__("policy", **node_kwargs)
        self.config: PolicyNodeConfig = declare_config(self, PolicyNodeConfig, overrides)
        cfg = self.config
        if not cfg.checkpoint:
            raise ValueError("no checkpoint: set the checkpoint parameter to a file written by "
                             "bc-ros train")
        if cfg.torch_threads:
            import torch
            torch.set_num_threads(cfg.torch_threads)
        restored = self._restore_state(cfg)
        if restored is not None:
            runner, payload, members, path = restored
        else:
            runner, payload = load_runner(cfg.checkpoint, cfg)   # errors end the node (exit 2)
            path = cfg.checkpoint
        self.spec = payload["spec"]
        if restored is None:
            members = [self._load_compatible(m)[0] for m in cfg.ensemble]
        self.checkpoint_loaded = path
        self.head = runner.policy.config.head
        self.action_names = list(self.spec["action_names"])
        self.command_type = cfg.command_type or self.spec["command_type"]
        self.command_interface = cfg.command_interface or self.spec["command_interface"]
        conv.check_command_type(self.command_type, self.action_names, self.command_interface)
        if cfg.publish_chunk and self.command_type != "joint_trajectory":
            raise ValueError(f"publish_chunk needs command_type joint_trajectory (a chunk is a "
                             f"trajectory); the checkpoint's is {self.command_type!r}")
        self.period = 1.0 / cfg.rate_hz       # a trajectory's point k is due k periods on
        self.state_type = state_type_for(self.spec, cfg.state_type)
        self.stopper = StopCommand(runner.stop_command, self.command_interface)

        # Shared between the executor thread(s) and the inference thread, under _lock.
        self._lock = threading.Lock()
        self._enabled = cfg.enabled
        self._last_cmd: SentCommand | None = None   # lockstep: for repeated observations
        self.stats = PolicyStats()
        self.problems = ProblemLog(2.0)   # one log throttle per (source, problem)
        self.counts = self.stats.counts
        self.inference = InferenceWorker(
            runner, members, lock=self._lock, stats=self.stats,
            score_scale=half_range_scale(runner.config.low, runner.config.high),
            budget_ms=1e3 / cfg.rate_hz, deliver=self._deliver, report=self._report,
            alive=self.context.ok)

        # Executor-thread state: the samples, the watchdog, the lockstep history.
        cameras = list(self.spec["cameras"])
        self.topics = camera_topics(cameras, cfg.image_transport, self.robot_profile)
        if self.state_type != "none":
            self.topics["state"] = cfg.state_topic or conv.STATE_MESSAGES[self.state_type][1]
        self.joint_names = joint_order(self.spec, self.robot_profile, self.state_type)
        self.ticker = Ticker(self.topics, cfg.obs_timeout)
        self.aligner = self.ticker.aligner
        image_type = conv.image_class(cfg.image_transport)
        for c in cameras:
            self.create_subscription(image_type, self.topics[f"image_{c}"],
                                     self._on_image(f"image_{c}"), SENSOR_QOS)
        expected = {self.topics[f"image_{c}"]: image_type for c in cameras}
        if self.state_type != "none":
            state_class = conv.STATE_CLASSES[self.state_type]
            self.create_subscription(state_class, self.topics["state"], self._on_state,
                                     SENSOR_QOS)
            expected[self.topics["state"]] = state_class
        self.goal_input = None
        goal_dim = int(self.spec.get("goal_dim") or 0)
        if goal_dim:
            if goal_dim != GOAL_POINT_DIM:
                raise ValueError(f"the checkpoint's policy wants a {goal_dim}-value goal; the "
                                 f"goal topic carries geometry_msgs/PointStamped "
                                 f"({GOAL_POINT_DIM} values)")
            self.goal_input = GoalInput(goal_dim, cfg.goal_timeout)
            self.create_subscription(PointStamped, cfg.goal_topic, self._on_goal, COMMAND_QOS)
            expected[cfg.goal_topic] = PointStamped
        self.type_check = TopicTypeCheck(self, expected, {
            self.topics[f"image_{c}"]: f"; set image_transport (now {cfg.image_transport}) or "
                                       f"the robot profile's cameras" for c in cameras})
        if cfg.reset_on_outcome:
            self.create_subscription(String, "sim/outcome", self._on_outcome, COMMAND_QOS)
        self.cmd_pub = self.create_publisher(conv.command_class(self.command_type),
                                             cfg.cmd_topic, COMMAND_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", COMMAND_QOS)
        self.score_pub = None
        self._ensure_score_publisher(members)
        self.create_service(Trigger, "~/reset", self._srv_reset)
        self.create_service(SetBool, "~/enable", self._srv_enable)
        self.create_service(Trigger, "~/load_checkpoint", self._srv_load)
        self._preloaded: Preload | None = None
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.cpu_latency = None
        if cfg.cpu_dma_latency_us >= 0:
            self.cpu_latency = CpuLatencyRequest(cfg.cpu_dma_latency_us)
            log = self.get_logger().info if self.cpu_latency.held else self.get_logger().warning
            log(f"CPU wake-up latency request {self.cpu_latency.status}")
        self.inference.start()
        if cfg.mode == "realtime":
            self.create_timer(1.0 / cfg.rate_hz, self._tick)   # node clock: sim time if set
        self.create_timer(cfg.diagnostics_period, self.publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(
            f"{self.head} policy from {cfg.checkpoint}: cameras {cameras} "
            f"{self.spec['image_size'][0]}x{self.spec['image_size'][1]}, state "
            f"{self.state_type}, {self.command_type} ({self.command_interface}) on "
            f"{self.cmd_pub.topic_name}, {cfg.mode}"
            + f", {cfg.backend}"
            + (f" at {cfg.rate_hz:g} Hz" if cfg.mode == "realtime" else "")
            + ("" if self._enabled else " (disabled: call ~/enable)"))

    @property
    def runner(self):
        """The PolicyRunner the inference thread runs (a swapped-in one from its next job)."""
        return self.inference.runner

    @property
    def members(self) -> list:
        """The ensemble members the inference thread runs."""
        return self.inference.members

    @property
    def watchdog(self) -> str:
        """missing | stale | ok (realtime)."""
        return self.ticker.watchdog

    @property
    def stale_streams(self) -> list[str]:
        return self.ticker.stale_streams

    # ---- checkpoints -------------------------------------------------------------------------
    def _restore_state(self, cfg: "PolicyNodeConfig"):
        """(runner, payload, members, path) of the checkpoint ``state_file`` says was swapped
        in last, or None: no file, one written for other parameters, or a checkpoint that
        no longer loads or lies outside ``checkpoint_dirs`` (said in the log)."""
        if not cfg.state_file or not os.path.exists(cfg.state_file):
            return None
        log = self.get_logger()
        try:
            with open(cfg.state_file) as f:
                state = json.load(f)
            launched = (state["launched"]["checkpoint"], list(state["launched"]["ensemble"]))
            path, ensemble = str(state["checkpoint"]), [str(m) for m in state["ensemble"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning(f"state_file {cfg.state_file} cannot be read ({e}); starting with "
                        f"{cfg.checkpoint}")
            return None
        if launched != (cfg.checkpoint, list(cfg.ensemble)):
            return None     # written for other parameters: the user chose a new policy
        refused = self.outside_checkpoint_dirs([path, *ensemble])
        if refused:
            log.error(f"state_file: {refused}; starting with {cfg.checkpoint}")
            return None
        try:
            runner, payload = load_runner(path, cfg)
            spec = swap_spec(payload["spec"], cfg)
            members = [load_runner(m, cfg, spec)[0] for m in ensemble]
        except Exception as e:  # noqa: BLE001 - CheckpointError/ValueError: start as launched
            log.warning(f"state_file names {path}, which does not load now ({e}); starting "
                        f"with {cfg.checkpoint}")
            return None
        log.info(f"restarted with {path}, the checkpoint ~/load_checkpoint last loaded "
                 f"(state_file {cfg.state_file}), not the launch-time {cfg.checkpoint}")
        return runner, payload, members, path

    def _save_state(self, path: str, ensemble: list[str]) -> None:
        """Keep what was loaded, for a restart (``state_file``); a failure is only logged."""
        if not self.config.state_file:
            return
        from bc_ros.core.data.store import write_json_atomic

        state = {"checkpoint": path, "ensemble": list(ensemble),
                 "launched": {"checkpoint": self.config.checkpoint,
                              "ensemble": list(self.config.ensemble)}}
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.config.state_file)), exist_ok=True)
            write_json_atomic(self.config.state_file, state)
        except OSError as e:
            self.get_logger().error(f"could not keep the loaded checkpoint in state_file "
                                    f"{self.config.state_file} ({e}): a restart would start "
                                    f"with {self.config.checkpoint}")

    def _load_compatible(self, path: str):
        """(PolicyRunner, payload) for ``path``, which must fit the running node's topics."""
        return load_runner(path, self.config, swap_spec(self.spec, self.config))

    def _ensure_score_publisher(self, members: list) -> None:
        """policy/uncertainty exists once the node has had an ensemble (it may get one by a
        hot swap); it stays, silent, if a later swap leaves no members."""
        if members and self.score_pub is None:
            self.score_pub = self.create_publisher(Float32, "policy/uncertainty", COMMAND_QOS)

    def _on_set_parameters(self, params):
        """Setting ``checkpoint`` or ``ensemble`` starts loading the pair in the background, so
        that the ~/load_checkpoint call that follows finds them loaded and only swaps."""
        new = {p.name: p.value for p in params if p.name in ("checkpoint", "ensemble")}
        if "ensemble" in new:
            members = list(new["ensemble"] or [])
            if not all(isinstance(m, str) and m for m in members):
                return SetParametersResult(successful=False, reason=f"ensemble must be a list of "
                                                                    f"checkpoint paths, got "
                                                                    f"{members}")
        if new:
            path = new.get("checkpoint", self.get_parameter("checkpoint").value)
            members = new.get("ensemble", self._ensemble_parameter())
            refused = self.outside_checkpoint_dirs([path, *(members or [])] if path else
                                                   list(members or []))
            if refused:
                self.counts["loads_refused"] += 1
                self.get_logger().error(refused)
                return SetParametersResult(successful=False, reason=refused)
            if path:
                self._preload(path, list(members or []))
        return SetParametersResult(successful=True)

    def outside_checkpoint_dirs(self, paths: list[str]) -> str:
        """Why ``paths`` may not be loaded (a file outside ``checkpoint_dirs``), or ""."""
        dirs = [os.path.realpath(d) for d in self.config.checkpoint_dirs]
        if not dirs:
            return ""
        for path in paths:
            real = os.path.realpath(path)       # a symlink or ../ cannot leave the folders
            if not any(os.path.commonpath([real, d]) == d for d in dirs):
                return (f"refused to load {path}: checkpoints load only from "
                        f"{self.config.checkpoint_dirs} (checkpoint_dirs)")
        return ""

    def _ensemble_parameter(self) -> list[str]:
        """The ``ensemble`` parameter's value (an empty list is declared without a value)."""
        from rclpy.exceptions import ParameterUninitializedException
        try:
            return list(self.get_parameter("ensemble").value or [])
        except ParameterUninitializedException:
            return []

    def _preload(self, path: str, ensemble: list[str]) -> Preload:
        preload = Preload(path, ensemble, self._load_compatible)
        self._preloaded = preload
        return preload.start()

    def _srv_load(self, request, response):
        path = self.get_parameter("checkpoint").value
        ensemble = tuple(self._ensemble_parameter())
        refused = self.outside_checkpoint_dirs([path, *ensemble])
        if refused:      # a parameter set before the node started, e.g.
            self.counts["loads_refused"] += 1
            self.get_logger().error(refused)
            response.success, response.message = False, f"kept {self.checkpoint_loaded}: {refused}"
            return response
        preload = self._preloaded
        if preload is None or not preload.matches(path, ensemble):
            preload = self._preload(path, list(ensemble))
        preload.wait()                 # normally done already: it started when the path was set
        self._preloaded = None         # a second call loads the file again (it may have changed)
        if preload.error is not None:
            self.counts["swap_failures"] += 1
            response.success = False
            kept = f"kept {self.checkpoint_loaded}"
            if self.members:
                kept += f" and its {len(self.members)} ensemble members"
            response.message = f"{kept}: {preload.error}"
            self.get_logger().error(f"load_checkpoint failed, {response.message}")
            return response
        runner, members = preload.runner, preload.members
        with self._lock:
            self.inference.swap(runner, members)   # taken before the thread's next job
            self.stopper.stop = runner.stop_command.copy()
        self.spec, self.checkpoint_loaded = preload.payload["spec"], path
        self.head = runner.policy.config.head
        self.counts["swaps"] += 1
        self._ensure_score_publisher(members)
        self._save_state(path, list(ensemble))
        response.success = True
        with_members = f" with {len(members)} ensemble members" if members else ""
        response.message = (f"loaded {path}{with_members} ({self.head} head; loading took "
                            f"{preload.seconds:.2f} s)")
        self.get_logger().info(response.message)
        return response

    # ---- other services and events -----------------------------------------------------------
    def reset_policy(self, why: str) -> None:
        """Clear history and action queue before the next observation; drop results in flight."""
        with self._lock:
            self.inference.reset()
        self.counts["resets"] += 1
        self.get_logger().info(f"policy reset: {why}")

    def _srv_reset(self, request, response):
        self.reset_policy("~/reset called")
        response.success, response.message = True, "policy history and action queue cleared"
        return response

    def _srv_enable(self, request, response):
        enable = bool(request.data)
        with self._lock:
            was, self._enabled = self._enabled, enable
            self.inference.drop_in_flight()
            if was and not enable:
                now = self.get_clock().now()
                self._publish_stop(now.nanoseconds * 1e-9, now.to_msg())
        if enable and not was:
            self.reset_policy("enabled")
        response.success = True
        response.message = "enabled" if enable else "disabled: one stop command sent"
        return response

    def _on_outcome(self, msg: String) -> None:
        try:
            outcome = json.loads(msg.data)
        except ValueError:
            outcome = {}
        self.reset_policy(f"episode {outcome.get('episode', '?')} ended")

    # ---- samples -----------------------------------------------------------------------------
    def _add(self, stream: str, stamp, value) -> None:
        t = conv.time_from_msg(stamp)
        added = self.ticker.add(stream, t, value)
        if added.status == REJECTED:
            self.counts["rejected_samples"] += 1
            self.counts[f"{stream}/stamp"] += 1
            self.report((stream, "stamp"), f"{self.topics[stream]}: sample stamped {t:.3f} "
                                           f"rejected (zero or older than the newest)")
            return
        if added.status == RESTARTED:
            # The stamps jumped back (a restarted sim, a looped bag): start over from here.
            self.get_logger().warning(f"{self.topics[stream]}: stamps jumped back from "
                                      f"{added.newest:.3f} to {t:.3f} s; starting afresh")
            self.reset_policy("the clock restarted")
        if self.config.mode == "lockstep":
            self._maybe_step(t, stamp)

    def report(self, key: tuple, text: str, error: bool = False) -> None:
        log_problem(self, self.problems, key, text, error)

    def _on_image(self, stream: str):
        def callback(msg):
            try:
                image = conv.image_from_msg(msg)
            except ValueError as e:
                kind = getattr(e, "kind", "encoding")   # encoding | data_length | decode
                self.counts["bad_messages"] += 1
                self.counts[f"{stream}/{kind}"] += 1
                self.report((stream, kind), f"{self.topics[stream]}: {e}", error=True)
                return
            self._add(stream, msg.header.stamp, image)
        return callback

    def _on_state(self, msg) -> None:
        """As the recorder stored it: odometry's 8 values, the joints by name (or all in
        message order), a pose's 7, an array's values."""
        try:
            values = conv.state_from_msg(msg, self.state_type, self.joint_names,
                                         int(self.spec.get("state_dim") or 0))
        except ValueError as e:    # a joint missing, names and positions that disagree, ...
            kind = "joints" if self.state_type == "joint_state" else "message"
            expected = f"; expected joints {self.joint_names}" if kind == "joints" else ""
            self.counts["bad_messages"] += 1
            self.counts[f"state/{kind}"] += 1
            self.report(("state", kind), f"{self.topics['state']}: {e}{expected}", error=True)
            return
        # an unstamped state (Float64MultiArray) is stamped on arrival
        stamp = getattr(getattr(msg, "header", None), "stamp", None)
        self._add("state", stamp if stamp is not None else self.get_clock().now().to_msg(),
                  values)

    # ---- lockstep ----------------------------------------------------------------------------
    def _maybe_step(self, t: float, stamp) -> None:
        """After a sample stamped ``t``: act if the observation at ``t`` is new and complete."""
        decision = self.ticker.lockstep(t)
        if decision.what == REPEAT:
            self._resend_if_undelivered(t)
        if decision.what != INFER:
            return
        with self._lock:
            if not self._enabled:
                return
            self.stats.record_tick(t)
            self._submit(t, stamp, decision.obs)

    def _resend_if_undelivered(self, t: float) -> None:
        """A repeated observation: the sim did not get our command. Resend it only if it went
        out before anyone subscribed (else it is on its way, and a second one would step twice)."""
        with self._lock:
            last = self._last_cmd
            if last and last.missed(t) and self.cmd_pub.get_subscription_count() > 0:
                if last.score_msg is not None:
                    self.score_pub.publish(last.score_msg)
                self.cmd_pub.publish(last.msg)
                last.delivered = True
                self.counts["resent"] += 1

    # ---- realtime ----------------------------------------------------------------------------
    def _tick(self) -> None:
        now = self.get_clock().now()
        t, stamp = now.nanoseconds * 1e-9, now.to_msg()
        if t <= 0.0:
            return   # sim time before the first /clock
        self.stats.record_tick(t)
        self.counts["ticks"] += 1
        tick = self.ticker.sample(t)
        with self._lock:
            if not self._enabled:
                return
            decision = self.ticker.realtime(tick)
            if decision.what == STOP:
                self._trip_watchdog(t, stamp, decision)
                return
            if decision.resumed_from:
                if decision.resumed_from == "stale":
                    self.get_logger().info("fresh observations again: resuming from a cleared "
                                           "history")
                self.inference.reset()
            if self.inference.busy:
                self.counts["ticks_skipped"] += 1   # inference of an earlier tick still running
                return
            self._submit(t, stamp, decision.obs)

    def _trip_watchdog(self, t: float, stamp, decision: TickDecision) -> None:
        """Called under _lock: publish the stop command and say why (throttled)."""
        if decision.tripped:
            self.counts["watchdog_trips"] += 1
        self.inference.drop_in_flight()   # a command being computed from the old data is dropped
        self._publish_stop(t, stamp)
        self.counts["stop_commands"] += 1
        self.report(("watchdog", decision.why), f"watchdog: {decision.why} (obs_timeout "
                    f"{self.config.obs_timeout:g} s); sending the stop command")

    # ---- commands ----------------------------------------------------------------------------
    def _submit(self, t: float, stamp, obs: dict) -> None:
        """Called under _lock: hand the observation (and the goal) to the inference thread; a
        goal-conditioned policy without a usable goal gets the stop command instead."""
        if self.goal_input is not None:
            check = self.goal_input.at(self._goal_clock())
            if check.goal is None:
                self.inference.drop_in_flight()
                self._publish_stop(t, stamp)
                self.counts["stop_commands"] += 1
                self.counts[f"goal/{check.problem}"] += 1
                self.report(("goal", check.problem), f"{self.config.goal_topic}: {check.text}; "
                                                     f"sending the stop command")
                return
            obs = {**obs, "goal": check.goal}
        self.inference.submit(t, stamp, obs)

    def _goal_clock(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_goal(self, msg) -> None:
        with self._lock:
            problem = self.goal_input.put([msg.point.x, msg.point.y, msg.point.z],
                                          self._goal_clock())
        if problem:
            self.report(("goal", problem), f"{self.config.goal_topic}: "
                                           f"{self.goal_input.problem_text}", error=True)

    def _deliver(self, result: Result) -> None:
        """Called by the inference thread under _lock for a result still wanted: the policy's
        command, or the stop command for a refused observation or a non-finite action."""
        job, out = result.job, result.output
        if result.error is not None:
            self.counts["observation_errors"] += 1
            self.counts["stop_commands"] += 1
            self._publish_stop(job.time, job.stamp)
            return
        if out.status != "ok":
            self.counts[out.status] += 1
        if out.status == "nonfinite":
            self.counts["stop_commands"] += 1
            self._publish_stop(job.time, job.stamp, policy=True, score=result.score)
            return
        self._publish(out.command, job.time, job.stamp, policy=True, score=result.score,
                      upcoming=out.upcoming)

    def _report(self, result: Result) -> None:
        """Called by the inference thread after ``_deliver``, without the lock."""
        if result.error is not None:    # keyed by what was wrong (the text before its values)
            what = str(result.error).split(":")[0]
            self.report(("observation", what), f"observation at {result.job.time:.3f} refused, "
                                               f"stop command sent: {result.error}", error=True)
        elif result.output.status == "nonfinite":
            self.report(("action", "nonfinite"), f"the policy produced a non-finite action "
                                                 f"{result.output.raw.tolist()}; stop command "
                                                 f"sent", error=True)

    def _publish_stop(self, t: float, stamp, **kwargs) -> None:
        """Called under _lock: the stop command (``StopCommand``: the stop vector, or for a
        position interface the last position commanded; nothing before the first, counted as
        ``stops_unsent``)."""
        command = self.stopper.command()
        if command is None:
            self.counts["stops_unsent"] += 1
            self.report(("stop", "unsent"), "stop: no position commanded yet, so none to hold; "
                                            "nothing sent (the controller holds its own)")
            return
        self._publish(command, t, stamp, **kwargs)

    def _publish(self, command, t: float, stamp, policy: bool = False,
                 score: float | None = None, upcoming: np.ndarray | None = None) -> None:
        """Called under _lock. ``stamp``: the observation's (or the tick's) exact stamp. With an
        ensemble, the command's score goes out first (NaN: none), so a consumer that waits for
        both (dagger_node's inputs trigger) always gets both. ``upcoming``: the actions queued
        after ``command``, sent along with ``publish_chunk``."""
        score_msg = None
        if self.score_pub is not None and self.members:
            score_msg = Float32(data=float("nan") if score is None else float(score))
            self.score_pub.publish(score_msg)
        if self.config.publish_chunk and upcoming is not None and len(upcoming):
            command = np.vstack([command, upcoming])          # (1 + n, A): the plan from now on
        msg = conv.command_to_msg(command, self.action_names, self.command_type, stamp,
                                  interface=self.command_interface, period=self.period)
        self.stopper.sent(command)
        self.cmd_pub.publish(msg)
        self._last_cmd = SentCommand(t, msg, score_msg,
                                     delivered=self.cmd_pub.get_subscription_count() > 0)
        if policy:
            self.counts["commands"] += 1
            self.stats.record_command(t)

    # ---- diagnostics -------------------------------------------------------------------------
    def diagnostics(self) -> dict:
        """The figures /diagnostics carries, as a dict (strings, numbers)."""
        with self._lock:
            stats = self.stats.snapshot()
            enabled = self._enabled
        return diagnostics_values(
            stats, mode=self.config.mode, checkpoint=self.checkpoint_loaded, head=self.head,
            backend=self.config.backend,
            cpu_dma_latency=self.cpu_latency.status if self.cpu_latency else "untouched",
            enabled=enabled, watchdog=self.watchdog, stale_streams=self.stale_streams,
            rate_target_hz=self.config.rate_hz)

    def publish_diagnostics(self) -> None:
        for text in self.type_check.check():     # a silent stream: say why
            self.counts["graph/type_mismatch"] += 1     # listed in /diagnostics
            self.report(("graph", "type"), text, error=True)
        d = self.diagnostics()
        if self.goal_input is not None:
            d["goal"] = self.goal_input.state
        level, message = summary(d)
        status = DiagnosticStatus(level=LEVELS[level], name=f"{self.get_name()}: policy",
                                  message=message, hardware_id=self.get_fully_qualified_name(),
                                  values=[KeyValue(key=k, value=str(v)) for k, v in d.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(array)

    # ---- shutdown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the inference thread (spin_node calls this; tests call it too)."""
        inference = getattr(self, "inference", None)
        if inference is not None:
            inference.close()
        if getattr(self, "cpu_latency", None) is not None:
            self.cpu_latency.close()

    def destroy_node(self):
        self.close()
        return super().destroy_node()


def main(args=None) -> int:
    return spin_node(PolicyNode, args, config=PolicyNodeConfig, about=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
