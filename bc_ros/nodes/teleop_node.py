"""teleop_node: a human's joystick or keyboard -> expert/cmd and expert/engaged.

Subscribes ``joy`` (sensor_msgs/Joy, from the joy package's joy_node); reads the terminal when
stdin is one and ``keyboard`` is on. Publishes at ``rate_hz``:
    expert/cmd       the command (command_type), zero while nobody is steering; always
                     velocities (a joint_trajectory: one point of velocities at 1 / rate_hz)
    expert/engaged   std_msgs/Bool: the deadman is held (joy) or engagement is toggled on (space)
A joystick that goes silent for ``joy_timeout`` seconds disengages and sends the stop command.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_msgs.msg import Bool

from bc_ros.core.teleop import JoyMapper, KeyboardTeleop, TeleopConfig
from bc_ros.nodes import conversions as conv
from bc_ros.nodes.params import declare_config
from bc_ros.nodes.runtime import COMMAND_QOS, SENSOR_QOS, spin_node


class TeleopNode(Node):
    def __init__(self, overrides: dict | None = None, *, clock=time.monotonic,
                 read_terminal: bool | None = None, **node_kwargs):
        super().__init__("teleop", **node_kwargs)
        self.config: TeleopConfig = declare_config(self, TeleopConfig, overrides)
        cfg = self.config
        conv.check_command_type(cfg.command_type, cfg.action_names)
        self._now = clock
        self.joy = JoyMapper(cfg)
        self.keys = KeyboardTeleop(cfg)
        self._joy_state = None     # (command, engaged, time) of the last good Joy message
        self._lock = threading.Lock()
        self.cmd_pub = self.create_publisher(conv.command_class(cfg.command_type), "expert/cmd",
                                             COMMAND_QOS)
        self.engaged_pub = self.create_publisher(Bool, "expert/engaged", COMMAND_QOS)
        self.create_subscription(Joy, "joy", self._on_joy, SENSOR_QOS)
        self.create_timer(1.0 / cfg.rate_hz, self._publish)
        self.other_experts = 0     # other publishers on expert/cmd, last seen
        self.create_timer(2.0, self._check_other_experts)
        if read_terminal is None:
            read_terminal = cfg.keyboard and sys.stdin.isatty()
        if read_terminal:
            threading.Thread(target=self._read_terminal, daemon=True).start()
            self.get_logger().info(f"keyboard teleop: {self.keys.help()}")

    def _on_joy(self, msg: Joy) -> None:
        try:
            command, engaged = self.joy(msg.axes, msg.buttons)
        except ValueError as e:
            self.get_logger().error(f"ignoring Joy message: {e}", throttle_duration_sec=2.0)
            return
        with self._lock:
            self._joy_state = (command, engaged, self._now())

    def press(self, key: str) -> None:
        with self._lock:
            self.keys.press(key, self._now())

    def current(self):
        """(command, engaged) as published now: a fresh engaged joystick wins over the keys."""
        now = self._now()
        with self._lock:
            joy = self._joy_state
            if joy is not None and now - joy[2] <= self.config.joy_timeout and joy[1]:
                return joy[0], True
            command = self.keys.command(now)
            return (command, True) if self.keys.engaged else (command * 0.0, False)

    def _publish(self) -> None:
        command, engaged = self.current()
        stamp = self.get_clock().now().to_msg()
        self.cmd_pub.publish(conv.command_to_msg(command, self.config.action_names,
                                                 self.config.command_type, stamp,
                                                 period=1.0 / self.config.rate_hz))
        self.engaged_pub.publish(Bool(data=engaged))

    def _check_other_experts(self) -> None:
        """The human must be the only expert: another publisher on expert/cmd (a sim's scripted
        expert: sim_node publish_expert) would be recorded interleaved with the human's
        commands. Said once each time the count of others changes."""
        others = self.count_publishers(self.cmd_pub.topic_name) - 1
        if others != self.other_experts and others > 0:
            self.get_logger().warning(
                f"{others} other publisher(s) on {self.cmd_pub.topic_name}: a recorder would "
                f"store their commands with the human's. Turn the sim's scripted expert off "
                f"(sim_node publish_expert:=false) or remap one of them")
        self.other_experts = others

    def _read_terminal(self) -> None:
        import termios
        import tty

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            while True:
                key = os.read(fd, 1).decode(errors="ignore")
                if not key or key == "\x03":  # EOF or Ctrl-C
                    break
                self.press(key)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def main(args=None) -> int:
    return spin_node(TeleopNode, args, config=TeleopConfig, about=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
