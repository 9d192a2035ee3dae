"""sim_node: a bc_ros simulation (drone or arm) as a ROS 2 node.

Publishes (default names, all remappable):
    camera/{left,center,right}/image_raw  sensor_msgs/Image, sensor-data QoS (image_transport
                                          compressed: .../image_raw/compressed, CompressedImage)
    odom (drone) | joint_states (arm)       nav_msgs/Odometry | sensor_msgs/JointState
    expert/cmd                              the scripted expert's clean command, every tick
                                            (command_type; a joint_trajectory: one point at
                                            one control period)
    expert/engaged                          std_msgs/Bool, with simulated_human: the simulated
                                            human holds control at this tick
                                            (bc_ros.core.sim.human), every tick
    goal                                    geometry_msgs/PointStamped (frame ``world``, m), every
                                            tick, for a task with a goal (arm reach_goal): the
                                            episode's goal, drawn per seed
    achieved_goal                           geometry_msgs/PointStamped, every tick, for the
                                            goal tasks (arm reach_goal, play): where the robot
                                            is in the goals' terms (the grasp point), what play
                                            is relabeled with in hindsight
    sim/outcome                             std_msgs/String, JSON: episode, seed, success, failure
    clock                                   rosgraph_msgs/Clock, when publish_clock is on
Subscribes:
    cmd                                     the command to execute (command_type; of a
                                            joint_trajectory the first point, in the field of
                                            command_interface)
    sim/set_goal                            geometry_msgs/PointStamped: a new goal for the
                                            running episode (a task with a goal), acting from
                                            the next step and published on ``goal`` from then
                                            on; e.g. RViz's Publish Point tool, remapped from
                                            clicked_point. Out of reach: refused, logged
Services:
    ~/reset                                 std_srvs/Trigger: start a new episode with the seed
                                            in parameter ``seed`` (then seed + 1, ...)
    ~/pause                                 std_srvs/SetBool: true freezes the sim where it is:
                                            no step, no message, no clock (a stalled simulator,
                                            as a Gazebo pause is to nodes on sim time); commands
                                            that arrive meanwhile are dropped, not queued. false
                                            goes on with a fresh observation of the same tick

All messages of one tick carry the same stamp: sim time when publish_clock is on, else the wall
clock when the observation was taken. In lockstep mode the node steps exactly once per command
received after the tick's observation went out (see ``bc_ros.core.commands.CommandLatch``); while
it waits it repeats the observation every ``command_timeout`` seconds (same stamp), so a consumer
that starts after the sim still gets one.
"""

from __future__ import annotations

import time

from geometry_msgs.msg import PointStamped
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Bool, String
from std_srvs.srv import SetBool, Trigger

from bc_ros.core.sim.session import EpisodeOutcome, SimConfig, SimSession
from bc_ros.core.sim.snapshots import write_snapshot
from bc_ros.nodes import conversions as conv
from bc_ros.nodes.params import declare_config
from bc_ros.nodes.runtime import COMMAND_QOS, SENSOR_QOS, spin_node


class SimNode(Node):
    def __init__(self, overrides: dict | None = None, *, snapshot_dir: str = "",
                 snapshot_step: int = 20, clock=time.monotonic, **node_kwargs):
        super().__init__("sim", **node_kwargs)
        self.config: SimConfig = declare_config(self, SimConfig, overrides)
        cfg = self.config
        self.session = SimSession(cfg)
        env = self.session.env
        conv.check_command_type(cfg.command_type, env.action_names, cfg.command_interface)
        self._wall = clock
        self.snapshot_dir = snapshot_dir
        self.snapshot_step = snapshot_step
        self.done = False
        self.paused = False
        self._seed_param = cfg.seed
        self._published_at = -float("inf")

        image_type = conv.image_class(cfg.image_transport)
        self.image_pubs = {name: self.create_publisher(
                               image_type, conv.camera_topic(name, cfg.image_transport),
                               SENSOR_QOS)
                           for name in env.camera_names}
        if env.state_type == "odometry":
            self.state_pub = self.create_publisher(conv.Odometry, "odom", SENSOR_QOS)
        else:
            self.state_pub = self.create_publisher(conv.JointState, "joint_states", SENSOR_QOS)
        cmd_type = conv.command_class(cfg.command_type)
        self.expert_pub = (self.create_publisher(cmd_type, "expert/cmd", COMMAND_QOS)
                           if cfg.publish_expert else None)
        self.engaged_pub = (self.create_publisher(Bool, "expert/engaged", COMMAND_QOS)
                            if cfg.simulated_human else None)
        self.outcome_pub = self.create_publisher(String, "sim/outcome", COMMAND_QOS)
        # reliable, like the commands: the policy node's goal subscription is reliable
        self.goal_pub = (self.create_publisher(PointStamped, "goal", COMMAND_QOS)
                         if env.task in env.goal_tasks else None)
        self.achieved_pub = (self.create_publisher(PointStamped, "achieved_goal", COMMAND_QOS)
                             if env.task in env.achieved_goal_tasks else None)
        if self.goal_pub is not None:
            self.create_subscription(PointStamped, "sim/set_goal", self._on_set_goal,
                                     COMMAND_QOS)
        self.clock_pub = (self.create_publisher(Clock, "clock", COMMAND_QOS)
                          if cfg.publish_clock else None)
        if not cfg.expert_drives:
            self.create_subscription(cmd_type, "cmd", self._on_cmd, COMMAND_QOS)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_service(SetBool, "~/pause", self._on_pause)

        if cfg.mode == "realtime":
            rate = cfg.rate_hz or 1.0 / env.control_dt
            self.create_timer(1.0 / rate, self._try_step)
        else:  # lockstep: steps come from _on_cmd; this timer only applies the timeout policy
            self.create_timer(max(0.01, cfg.command_timeout / 4), self._try_step)
        self.get_logger().info(
            f"{cfg.robot}/{cfg.task} sim, {cfg.image_width}x{cfg.image_height} cameras, "
            f"{cfg.mode} mode, control {1.0 / env.control_dt:g} Hz, first seed {cfg.seed}")
        if cfg.wait_for_subscribers == 0:
            self._begin_episode()

    # ---- episodes ----------------------------------------------------------------------------
    def _begin_episode(self, seed: int | None = None) -> None:
        self.session.start_episode(seed)
        self._publish_observation()

    def _on_reset(self, request, response):
        seed = self.get_parameter("seed").value
        if seed == self._seed_param:
            seed = None  # parameter unchanged since the last reset: continue the sequence
        self._seed_param = self.get_parameter("seed").value
        self.done = False
        self._begin_episode(seed)
        response.success = True
        response.message = (f"episode {self.session.episode} started with seed "
                            f"{self.session.seed}")
        return response

    def _on_pause(self, request, response):
        was, self.paused = self.paused, bool(request.data)
        if was and not self.paused and self.session.running and not self.done:
            # the tick it stopped at again (lockstep: the consumer answers it; real time: the
            # last command is older than command_timeout, so the first step applies the stop
            # until fresh commands come), its command timeout counted from now
            self.session.latch.tick_started(self._wall())
            self._publish_observation(repeat=True)
        response.success = True
        response.message = (("paused" if self.paused else "running") +
                            ("" if was != self.paused else " already"))
        self.get_logger().info(f"sim {response.message}")
        return response

    def _finish_episode(self, outcome: EpisodeOutcome) -> None:
        self.outcome_pub.publish(String(data=outcome.to_json()))
        verdict = ("success" if outcome.success else f"failure ({outcome.failure})"
                   if outcome.failure else "ended")
        self.get_logger().info(f"episode {outcome.episode} seed {outcome.seed}: {verdict} "
                               f"after {outcome.steps} steps")
        if not self.session.wants_more():
            self.done = True
        elif self.config.auto_reset:
            self._begin_episode()

    # ---- commands and steps ------------------------------------------------------------------
    def _on_cmd(self, msg) -> None:
        try:
            values = conv.command_from_msg(msg, self.session.env.action_names,
                                           self.config.command_interface)
        except ValueError as e:
            self.session.filter.counts["rejected_shape"] += 1
            self.get_logger().error(f"rejected command on cmd: {e}", throttle_duration_sec=2.0)
            return
        result = self.session.filter(values)
        if result.action is None:
            self.get_logger().warning(f"rejected command on cmd: {result.reason} "
                                   f"({self.session.filter.counts['rejected_nonfinite']} "
                                   f"non-finite so far)", throttle_duration_sec=2.0)
            return
        if result.clamped:
            self.get_logger().info(f"cmd {result.reason}", throttle_duration_sec=5.0)
        if self.paused:
            return
        self.session.latch.put(result.action, self._wall())
        if self.config.mode == "lockstep":
            self._try_step()

    def _on_set_goal(self, msg) -> None:
        point = (msg.point.x, msg.point.y, msg.point.z)
        try:
            self.session.env.set_goal(point)
        except ValueError as e:
            self.get_logger().error(f"sim/set_goal refused: {e}", throttle_duration_sec=2.0)
            return
        self.get_logger().info(f"new goal {[round(v, 3) for v in point]}")

    def _try_step(self) -> None:
        if self.paused:
            return
        if self.session.episode < 0 and self._subscribers_ready():
            self._begin_episode()
            return
        if self.done or not self.session.running:
            return
        now = self._wall()
        action = self.session.action_to_apply(now)
        if action is None:
            if now - self._published_at >= self.config.command_timeout:
                # Lockstep and nobody answered: a consumer that started late missed the
                # observation. Send it again (same stamp, so consumers can tell it is a repeat).
                self._publish_observation(repeat=True)
            return
        outcome = self.session.step(action)
        if outcome is not None:
            self._finish_episode(outcome)
        else:
            self._publish_observation()

    def _subscribers_ready(self) -> bool:
        need = self.config.wait_for_subscribers
        return all(p.get_subscription_count() >= need for p in self.image_pubs.values())

    # ---- publishing --------------------------------------------------------------------------
    def _stamp(self):
        if self.config.publish_clock:
            return conv.time_to_msg(self.session.clock)
        return self.get_clock().now().to_msg()

    def _publish_observation(self, repeat: bool = False) -> None:
        session, env = self.session, self.session.env
        stamp = self._stamp()
        self._published_at = self._wall()
        if self.clock_pub is not None:
            self.clock_pub.publish(Clock(clock=stamp))
        # the tick's goal goes out before its observation, which a policy node acts on
        for pub, point in ((self.goal_pub, env.goal_point()),
                           (self.achieved_pub, env.achieved_goal())):
            if pub is not None:
                pub.publish(point_msg(point, stamp))
        images = session.obs["images"]
        cfg = self.config
        for name, pub in self.image_pubs.items():
            if cfg.image_transport == "compressed":
                pub.publish(conv.compressed_image_to_msg(images[name], stamp, f"camera_{name}",
                                                         cfg.compressed_format, cfg.jpeg_quality))
            else:
                pub.publish(conv.image_to_msg(images[name], stamp, f"camera_{name}",
                                              cfg.image_encoding))
        if env.state_type == "odometry":
            self.state_pub.publish(conv.odometry_to_msg(env.odometry(), stamp))
        else:
            self.state_pub.publish(conv.joint_state_to_msg(env.joint_state(), stamp))
        if self.expert_pub is not None:
            self.expert_pub.publish(conv.command_to_msg(
                session.expert().clean, env.action_names, self.config.command_type, stamp,
                interface=self.config.command_interface, period=env.control_dt))
        if self.engaged_pub is not None:
            self.engaged_pub.publish(Bool(data=session.human_engaged()))
        if repeat:
            return
        if self.snapshot_dir and session.steps == self.snapshot_step:
            paths = write_snapshot(self.snapshot_dir, f"{self.config.robot}_{self.config.task}"
                                   f"_ep{session.episode}", images, env.render_overview())
            self.get_logger().info(f"snapshot written: {', '.join(paths)}")
        session.latch.tick_started(self._wall())

    def close(self) -> None:
        self.session.close()


def point_msg(point, stamp, frame_id: str = "world") -> PointStamped:
    msg = PointStamped()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.point.x, msg.point.y, msg.point.z = (float(v) for v in point)
    return msg


def main(args=None) -> int:
    return spin_node(SimNode, args, config=SimConfig, about=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
