"""Starting and stopping nodes the same way from ``ros2 run``, launch files and ``bc-ros``."""

from __future__ import annotations

import os
import sys

LARGE_DATA_PROFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "fastdds_large_data.xml")


def use_large_data_profile() -> None:
    """Point Fast DDS at our profile with a 16 MB shared-memory segment (see the XML for why),
    unless the user chose a profile or another RMW. Must run before rclpy creates a participant
    (before ``rclpy.init``); child processes inherit it."""
    if os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp") != "rmw_fastrtps_cpp":
        return
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", LARGE_DATA_PROFILE)


use_large_data_profile()  # importing this module happens before any node is made

import rclpy  # noqa: E402
from rclpy.executors import ExternalShutdownException  # noqa: E402
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)  # noqa: E402

# Sensor streams (images, odometry, joint states): best effort, keep last 5 (REP 2003).
SENSOR_QOS = qos_profile_sensor_data
# Commands and events: reliable, a short queue (a reliable subscriber also hears best-effort
# publishers' absence loudly, so every command publisher of ours is reliable too).
COMMAND_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE)
# Latched status: a late subscriber gets the last message.
LATCHED_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)


def spin_node(make_node, args=None) -> int:
    """Init rclpy, build the node, spin until it says it is done or is shut down.

    ``make_node()`` returns a node; if it has a ``done`` attribute that turns true, spinning
    stops (the sim after its episode count). A config error is printed without a traceback and
    gives exit code 2. Ctrl-C and a launch shutdown end quietly (Humble to Kilted).
    """
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = make_node()
        while rclpy.ok() and not getattr(node, "done", False):
            rclpy.spin_once(node, timeout_sec=0.1)
        code = getattr(node, "exit_code", 0)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:  # noqa: BLE001
        # SIGINT/SIGTERM shut the context down under a running callback, whose next publish
        # then fails: that is a shutdown, not an error.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code
