"""Starting and stopping nodes the same way from ``ros2 run``, launch files and ``bc-ros``."""

from __future__ import annotations

import os
import signal
import sys
import threading

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
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor  # noqa: E402
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


EXECUTORS = ("events", "single")
CPU_DMA_LATENCY = "/dev/cpu_dma_latency"


class CpuLatencyRequest:
    """Keeps the CPUs out of deep idle states while it is held: Linux's PM QoS request through
    ``/dev/cpu_dma_latency`` (what cyclictest and real-time tuning guides do). A woken thread
    then starts at once on a core whose caches are warm, instead of paying the idle state's
    exit (on the VM of our benchmarks a model ran 1.6-2x slower after 30 ms idle). The request
    lasts while the file stays open, so it ends with the process, however that ends. Costs
    power: the CPUs poll instead of sleeping. Needs write access to the device (root, or a
    udev rule giving it to the robot's user); without it ``status`` says why and nothing
    changes."""

    def __init__(self, microseconds: int, path: str = CPU_DMA_LATENCY):
        import struct

        self._fd = None
        try:
            self._fd = os.open(path, os.O_WRONLY)
            os.write(self._fd, struct.pack("i", int(microseconds)))
            self.status = f"held at {int(microseconds)} us"
        except OSError as e:
            self.close()
            self.status = (f"not held: {path}: {e.strerror or e} (run as root or grant the "
                           f"robot's user write access to it)")

    @property
    def held(self) -> bool:
        return self._fd is not None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def log_problem(node, problems, key: tuple, text: str, error: bool = False) -> None:
    """Log ``text`` through ``problems`` (a ``core.throttle.ProblemLog``): one throttle per
    ``key`` (source, kind of problem) on the monotonic clock, so one fault never hides another
    (rclpy's ``throttle_duration_sec`` throttles a call site, whatever it logs)."""
    import time

    line = problems.message(key, text, time.monotonic())
    if line is not None and error:        # two call sites: rclpy fixes a site's severity
        node.get_logger().error(line)
    elif line is not None:
        node.get_logger().warning(line)


class TopicTypeCheck:
    """Finds publishers whose message type is not the one a node subscribed with. DDS never
    connects such a pair, so the node would only see a silent topic: this says why (a camera
    that publishes CompressedImage where the profile says raw, a Twist where TwistStamped is
    expected). ``check`` returns a text per (topic, type) mismatch, each once while it lasts.

    Args:
        expected: topic as subscribed (relative names resolve in the node's namespace) -> the
            message class subscribed with.
    """

    def __init__(self, node, expected: dict, hints: dict | None = None):
        self.node = node
        self.expected = {node.resolve_topic_name(t): (t, self.type_name(cls))
                         for t, cls in expected.items()}
        self.hints = hints or {}
        self.reported: set[tuple[str, str]] = set()
        self.count = 0

    @staticmethod
    def type_name(cls) -> str:
        return f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"

    def check(self) -> list[str]:
        problems, seen = [], set()
        for full, (topic, want) in self.expected.items():
            for info in self.node.get_publishers_info_by_topic(full):
                if info.topic_type == want:
                    continue
                key = (full, info.topic_type)
                seen.add(key)
                if key in self.reported:
                    continue
                self.reported.add(key)
                self.count += 1
                who = f"{info.node_namespace.rstrip('/')}/{info.node_name}"
                hint = self.hints.get(topic, "")
                problems.append(f"{full} is published as {info.topic_type} by {who}, expected "
                                f"{want}: nothing from it arrives{hint}")
        self.reported &= seen        # a mismatch that went away is reported again if it returns
        return problems


def make_executor(context=None, kind: str | None = None):
    """The executor every bc_ros process spins its nodes with.

    ``events`` (the default where rclpy has it, Jazzy on): rclpy's C++ EventsExecutor, which
    dispatches each callback straight from the middleware's event queue. ``single``: the
    SingleThreadedExecutor, which rebuilds a wait set in Python for every callback; measured
    with ``benchmarks/bench_policy_node.py --executor``, that costs milliseconds per
    observation of four messages. ``BC_ROS_EXECUTOR`` chooses (Humble falls back to single).
    """
    kind = kind or os.environ.get("BC_ROS_EXECUTOR", "events")
    if kind not in EXECUTORS:
        raise ValueError(f"BC_ROS_EXECUTOR={kind!r}: expected one of {', '.join(EXECUTORS)}")
    if kind == "events":
        try:
            from rclpy.experimental import EventsExecutor
        except ImportError:   # Humble
            pass
        else:
            # It calls faulthandler.enable(), which needs sys.stderr to be a real file (not so
            # under pytest's capsys or in a notebook): hand it the process's own stderr.
            stderr = sys.stderr
            try:
                sys.stderr = sys.__stderr__ or stderr
                return EventsExecutor(context=context)
            except (OSError, ValueError, AttributeError):   # io.UnsupportedOperation: no fd
                pass
            finally:
                sys.stderr = stderr
    return SingleThreadedExecutor(context=context)


class StopSignals:
    """SIGINT and SIGTERM as a request to stop, while ``spin_node`` runs a node.

    rclpy's own handlers shut the context down under a running callback and leave SIGINT to
    Python, which raises KeyboardInterrupt wherever the process happens to be. ``ros2 launch``
    sends a SIGINT of its own right after the terminal's Ctrl-C, so the second one used to land
    in ``destroy_node``: a traceback and exit code -2. Here the first signal only sets
    ``received``; the spin loop sees it within its 0.1 s wait, and the node is closed and
    destroyed with its context still valid (``close()`` may still publish). From then on
    SIGINT is ignored, and SIGTERM has its default action back, so launch's escalation (SIGTERM
    5 s after SIGINT) still ends a node stuck in its cleanup. Only the main thread may set
    handlers: elsewhere nothing is installed and rclpy's handlers stay.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.received: str | None = None
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def _handle(self, signum, frame) -> None:
        if self.received is None:
            self.received = signal.Signals(signum).name
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def restore(self) -> None:
        """The handlers from before; after a signal, SIGINT stays ignored instead (the process
        is on its way out, and launch's second SIGINT may still be on its way)."""
        for sig, previous in self._previous.items():
            if self.received is None:
                signal.signal(sig, previous)
            elif sig == signal.SIGINT:
                signal.signal(sig, signal.SIG_IGN)
        self._previous = {}


def node_help(name: str, about: str, config) -> str:
    """What ``<node> --help`` prints: what the node does and every parameter of its typed config
    (type, default, description), and how to set them."""
    import dataclasses

    from bc_ros.core.config import field_help, field_types

    types = field_types(config)
    lines = [f"usage: ros2 run bc_ros {name} [--ros-args -p NAME:=VALUE ... "
             f"--params-file FILE -r FROM:=TO]", ""]
    lines += [about.strip().split("\n\n")[0], "", "parameters:"]
    for f in dataclasses.fields(config):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        tp = getattr(types[f.name], "__name__", str(types[f.name]))
        lines.append(f"  {f.name} ({tp}, default {default!r})")
        lines.append(f"      {field_help(f)}")
    return "\n".join(lines)


def wants_help(args=None) -> bool:
    """-h / --help among the node's own arguments (those before ``--ros-args``)."""
    argv = list(sys.argv[1:] if args is None else args)
    if "--ros-args" in argv:
        argv = argv[:argv.index("--ros-args")]
    return "-h" in argv or "--help" in argv


def spin_node(make_node, args=None, *, config=None, about: str = "") -> int:
    """Init rclpy, build the node, spin until it says it is done or is stopped.

    With ``-h``/``--help`` (before any ``--ros-args``) it prints ``node_help`` for ``config``
    (the node's typed config) and returns 0 without starting anything.

    ``make_node()`` returns a node; if it has a ``done`` attribute that turns true, spinning
    stops (the sim after its episode count). A config error is printed without a traceback and
    gives exit code 2. Ctrl-C, SIGTERM and a launch shutdown end quietly with exit code 0,
    however many SIGINTs arrive (``StopSignals``); on the way out ``node.close()`` (if the
    node has one) runs while the context is still valid, then ``destroy_node()``.
    """
    if config is not None and wants_help(args):
        name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "node"
        print(node_help(name, about or (make_node.__doc__ or ""), config))
        return 0
    stop = StopSignals()
    try:
        return _spin(make_node, args, stop)
    finally:
        stop.restore()


def _spin(make_node, args, stop: StopSignals) -> int:
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=args, signal_handler_options=(
        SignalHandlerOptions.NO if stop.installed else None))
    node = None
    code = 0
    executor = None
    try:
        node = make_node()
        # One executor for the node's life: rclpy.spin_once(node) would add and remove the
        # node around every callback.
        executor = make_executor()
        executor.add_node(node)
        while stop.received is None and rclpy.ok() and not getattr(node, "done", False):
            executor.spin_once(timeout_sec=0.1)
        if stop.received is None:
            code = getattr(node, "exit_code", 0)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass   # rclpy's handlers (spin_node outside the main thread)
    except Exception:  # noqa: BLE001
        # A shutdown from elsewhere (rclpy.shutdown, rclpy's signal handlers) took the context
        # under a running callback, whose next publish then fails: not an error.
        if rclpy.ok():
            raise
    finally:
        try:
            if executor is not None:
                executor.shutdown()
            if node is not None:
                close = getattr(node, "close", None)
                if close is not None:
                    close()
        finally:
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
    return code
