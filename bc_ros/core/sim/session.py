"""What the sim node decides, without ROS: its config, episode bookkeeping and command handling.

``SimSession`` owns one env and runs it episode after episode: seeds in sequence, the scripted
expert (with optional injected noise), the outcome of each episode, a sim clock that keeps
counting across episodes (so ``/clock`` and stamps never go backwards), and the command filter
and latch that turn incoming commands into steps. The node only converts messages and publishes.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from bc_ros.core.commands import TIMEOUT_POLICIES, CommandFilter, CommandLatch
from bc_ros.core.config import field
from bc_ros.core.messages import COMMAND_INTERFACES, COMPRESSED_FORMATS, check_image_transport
from bc_ros.core.sim import check_robot_task, default_task, make_env
from bc_ros.core.sim.base import SimEnv
from bc_ros.core.sim.experts import ExpertCommand, NoisyExpert
from bc_ros.core.sim.human import HumanRule, SimulatedHuman

MODES = ("realtime", "lockstep")
# Sim time starts here, not at 0: a zero stamp means "unset" in ROS and consumers reject it.
SIM_EPOCH = 1.0


@dataclasses.dataclass
class SimConfig:
    """Parameters of ``sim_node`` (and ``bc-ros sim``)."""

    robot: str = field("drone", "Which simulation: drone (forest trail) or arm (Franka Panda).")
    task: str = field("", "Task; empty = the robot's first (drone: trail, bypass; "
                          "arm: reach_around, push, reach_goal, play).")
    seed: int = field(0, "Seed of the first episode; every reset takes the next one. Seeds "
                         ">= 1000000 are held out for evaluation.")
    image_width: int = field(96, "Camera image width in pixels (32..640).")
    image_height: int = field(96, "Camera image height in pixels (32..480).")
    image_encoding: str = field("rgb8", "Encoding of published raw images: rgb8, bgr8 or "
                                        "mono8.")
    image_transport: str = field("raw", "raw: sensor_msgs/Image on camera/<name>/image_raw; "
                                        "compressed: sensor_msgs/CompressedImage on "
                                        "camera/<name>/image_raw/compressed, as "
                                        "image_transport's compressed plugin publishes it.")
    compressed_format: str = field("jpeg", "Codec of compressed images: jpeg or png.")
    jpeg_quality: int = field(90, "JPEG quality of compressed images, 1..100 (image_transport's "
                                  "default: 95).")
    mode: str = field("realtime", "realtime: step at rate_hz on the wall clock; lockstep: step "
                                  "once per command received for the current observation.")
    rate_hz: float = field(0.0, "realtime: steps per wall-clock second; 0 = the sim's own control "
                                "rate (real time). Larger runs faster than real time.")
    command_timeout: float = field(0.5, "Seconds. realtime: a command older than this is "
                                        "replaced by the stop command. lockstep: how long to "
                                        "wait for the command of a tick before timeout_policy.")
    timeout_policy: str = field("wait", "lockstep, no command within command_timeout: wait (keep "
                                        "waiting), hold (repeat the last command) or stop "
                                        "(apply the stop command).")
    expert_drives: bool = field(False, "The scripted expert drives (realtime only); cmd is "
                                       "ignored.")
    publish_expert: bool = field(True, "Publish the scripted expert's clean command on "
                                       "expert/cmd every tick.")
    expert_noise_std: float = field(0.0, "Noise injected into the executed expert command when "
                                         "expert_drives, as a fraction of each action's half "
                                         "range (recovery data, DART).")
    command_type: str = field("twist", "Message type of cmd and expert/cmd: twist, "
                                       "twist_stamped (cmd_vel from Jazzy on), "
                                       "float64_multi_array (ros2_control "
                                       "forward_command_controller), joint_state, "
                                       "joint_trajectory (ros2_control "
                                       "joint_trajectory_controller: expert/cmd one point at "
                                       "one control period; cmd: its first point is applied).")
    command_interface: str = field("velocity", "Field of a JointState / JointTrajectoryPoint "
                                               "that carries the action: velocity or position "
                                               "(the sims' actions are velocities; position "
                                               "only moves them to the other field).")
    episodes: int = field(0, "Stop after this many episodes (0 = run until shut down).")
    auto_reset: bool = field(True, "Start the next episode as soon as one ends.")
    publish_clock: bool = field(False, "Publish /clock with sim time and stamp messages with it "
                                       "(run the other nodes with use_sim_time).")
    wait_for_subscribers: int = field(0, "Start the first episode only once every camera topic "
                                         "has this many subscribers (e.g. 1: the recorder).")
    simulated_human: bool = field(False, "Publish expert/engaged every tick from a simulated "
                                         "human watching the robot's tracking error "
                                         "(bc_ros.core.sim.human; drone): HG-DAgger in sim.")
    human_engage_lateral: float = field(0.7, "Simulated human: takes over beyond this lateral "
                                             "offset from the expert's path (m) ...")
    human_engage_heading: float = field(0.6, "... or this heading error (rad).")
    human_release_lateral: float = field(0.3, "Simulated human: lets go once within this offset "
                                              "(m) ...")
    human_release_heading: float = field(0.25, "... and this heading error (rad) ...")
    human_release_ticks: int = field(5, "... for this many consecutive ticks.")

    def __post_init__(self):
        check_robot_task(self.robot, self.task or None)
        if not self.task:
            self.task = default_task(self.robot)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode=}")
        if self.command_interface not in COMMAND_INTERFACES:
            raise ValueError(f"command_interface must be one of {COMMAND_INTERFACES}, "
                             f"got {self.command_interface=}")
        if self.timeout_policy not in TIMEOUT_POLICIES:
            raise ValueError(f"timeout_policy must be one of {TIMEOUT_POLICIES}, "
                             f"got {self.timeout_policy=}")
        if self.rate_hz < 0:
            raise ValueError(f"rate_hz must be >= 0, got {self.rate_hz=}")
        if self.command_timeout <= 0:
            raise ValueError(f"command_timeout must be > 0, got {self.command_timeout=}")
        if self.expert_drives and self.mode != "realtime":
            raise ValueError("expert_drives needs mode=realtime (raise rate_hz to run faster "
                             f"than real time), got {self.mode=}")
        if self.image_encoding not in ("rgb8", "bgr8", "mono8"):
            raise ValueError(f"image_encoding must be rgb8, bgr8 or mono8, "
                             f"got {self.image_encoding=}")
        check_image_transport(self.image_transport)
        if self.compressed_format not in COMPRESSED_FORMATS:
            raise ValueError(f"compressed_format must be one of {COMPRESSED_FORMATS}, "
                             f"got {self.compressed_format=}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality=}")
        if self.episodes < 0 or self.expert_noise_std < 0:
            raise ValueError(f"episodes and expert_noise_std must be >= 0, got "
                             f"{self.episodes=} {self.expert_noise_std=}")
        self.human_rule()  # validates the human_* fields

    def human_rule(self) -> HumanRule:
        return HumanRule(engage_lateral=self.human_engage_lateral,
                         engage_heading=self.human_engage_heading,
                         release_lateral=self.human_release_lateral,
                         release_heading=self.human_release_heading,
                         release_ticks=self.human_release_ticks)


@dataclasses.dataclass
class EpisodeOutcome:
    episode: int
    seed: int
    robot: str
    task: str
    success: bool
    failure: str | None
    steps: int
    sim_time: float            # seconds of this episode
    end_stamp: float           # session clock when it ended (the stamp of its last step)
    mode: str | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))


class SimSession:
    """One env run episode after episode, as the sim node drives it.

    Typical loop (the node's): ``obs = start_episode()``; then per tick ``expert()`` (the
    command to publish on expert/cmd), ``step(action)``; when ``step`` returns an outcome the
    episode is over and ``start_episode()`` begins the next one (if ``wants_more()``).
    """

    def __init__(self, config: SimConfig, env: SimEnv | None = None):
        self.config = config
        self.env = env or make_env(config.robot, config.task,
                                   image_size=(config.image_width, config.image_height))
        self.filter = CommandFilter(self.env.action_names, self.env.action_low,
                                    self.env.action_high)
        self.stop_command = np.clip(np.zeros(len(self.env.action_names)), self.env.action_low,
                                    self.env.action_high)
        self.latch = CommandLatch(self.stop_command, lockstep=config.mode == "lockstep",
                                  timeout=config.command_timeout, policy=config.timeout_policy)
        self.next_seed = config.seed
        self.episode = -1          # index of the running episode
        self.seed: int | None = None
        self.steps = 0             # steps in the running episode
        self.clock = SIM_EPOCH     # sim time in seconds: monotonic across episodes
        self.outcomes: list[EpisodeOutcome] = []
        self.obs: dict | None = None
        self.info: dict = {}
        self.running = False       # an episode is in progress
        self._expert: NoisyExpert | None = None
        self._expert_cmd: ExpertCommand | None = None
        self.human: SimulatedHuman | None = None
        self._engaged: bool | None = None
        if config.simulated_human:
            if type(self.env).tracking_error is SimEnv.tracking_error:
                raise ValueError(f"simulated_human needs a sim with a reference path to judge "
                                 f"the robot by (the drone); the {config.robot} sim has none")
            self.human = SimulatedHuman(config.human_rule())

    # ---- episodes ----------------------------------------------------------------------------
    def wants_more(self) -> bool:
        return self.config.episodes == 0 or len(self.outcomes) < self.config.episodes

    def start_episode(self, seed: int | None = None) -> dict:
        """Reset the env with ``seed`` (default: the next in sequence). Returns the observation."""
        self.seed = self.next_seed if seed is None else int(seed)
        self.next_seed = self.seed + 1
        self.episode += 1
        self.steps = 0
        self.obs = self.env.reset(self.seed)
        self.running = True
        self.info = {"success": False, "failure": None}
        # The noise rng is derived from the seed so noisy demonstrations are reproducible.
        self._expert = NoisyExpert(self.env, self.config.expert_noise_std,
                                   rng=np.random.default_rng([self.seed, 7]))
        self._expert_cmd = None
        self._engaged = None
        if self.human is not None:
            self.human.reset()
        return self.obs

    def expert(self) -> ExpertCommand:
        """The expert's command for the current observation (computed once per tick)."""
        if self._expert_cmd is None:
            self._expert_cmd = self._expert.act()
        return self._expert_cmd

    def human_engaged(self) -> bool:
        """The simulated human's flag for the current observation (decided once per tick)."""
        if self.human is None:
            raise RuntimeError("simulated_human is off")
        if self._engaged is None:
            self._engaged = self.human.update(*self.env.tracking_error())
        return self._engaged

    def step(self, action) -> EpisodeOutcome | None:
        """Apply ``action`` (already filtered) for one control step; the outcome if it ended."""
        if not self.running:
            raise RuntimeError("no episode is running: call start_episode() first")
        self.obs, _, terminated, truncated, self.info = self.env.step(action)
        self._expert_cmd = None
        self._engaged = None
        self.steps += 1
        self.clock += self.env.control_dt
        if not (terminated or truncated):
            return None
        self.running = False
        outcome = EpisodeOutcome(
            episode=self.episode, seed=self.seed, robot=self.config.robot, task=self.config.task,
            success=bool(self.info.get("success")), failure=self.info.get("failure"),
            steps=self.steps, sim_time=round(self.steps * self.env.control_dt, 6),
            end_stamp=round(self.clock, 9), mode=self.info.get("mode"))
        self.outcomes.append(outcome)
        return outcome

    def action_to_apply(self, now: float) -> np.ndarray | None:
        """The command for the next step: the expert's (``expert_drives``) or the latch's."""
        if self.config.expert_drives:
            return self.expert().executed
        return self.latch.take(now)

    def close(self) -> None:
        self.env.close()
