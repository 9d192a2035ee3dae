"""Soak and fault campaign: the DAgger recording graph in real time, faults on a seeded schedule.

    ROS_DOMAIN_ID=201 python benchmarks/bench_soak.py --minutes 30 [--seed 0] [--json F]

Four node processes run as ``python -m bc_ros.nodes.<node>`` (so a kill -9 is real), on the
wall clock (realtime, no /clock): sim_node (drone trail at 48x48, its scripted expert on
expert/cmd), policy_node (a checkpoint trained here at start: 2 expert episodes, 20 steps;
pinned to one core), dagger_node (beta mixing of policy/cmd and expert/cmd onto cmd) and
recorder_node (every episode, with who drove). This process is the monitor: it relays the
centre camera from the sim to the policy and the recorder (so it knows every image they could
have seen, and can silence it), publishes the bad messages, and listens to every command.

Faults, each kind once per cycle in a seeded order, ``--gap`` to ``2 * --gap`` seconds apart
(each waits until the graph is healthy again, up to ``--recover`` seconds):
  recorder_kill    kill -9 of recorder_node, restarted 2 s later (launch's respawn_delay)
  policy_kill      kill -9 of policy_node, restarted 2 s later
  camera_silence   the centre camera relayed to nobody for ``--silence`` s
  bad_camera       ``--burst`` s of 50 Hz wrong-size (32x32) and wrong-encoding (32FC1) images
                   on the centre camera from an extra publisher
  bad_state        ``--burst`` s of 50 Hz odometry with NaN positions from an extra publisher
  cpu_starve       ``--starve`` s of a busy-loop process pinned to the policy node's core
  sim_stall        the sim frozen for ``--stall`` s (sim_node's ``~/pause``): no step, no
                   message on any topic, no clock, as when a simulator stalls or a robot's
                   driver hangs. This graph runs on the wall clock, so the nodes see every
                   stream stop together; on sim time (``publish_clock``) /clock stops too and
                   their timers with it, which ``test/system/test_clock_stall.py`` covers

Reported (JSON, default docs/figures/soak.json, and a table):
  episodes         from the dataset at the end: finished (not recovered), salvaged (flagged
                   recovered after a kill), quarantined, and lost: finished episodes seen on disk
                   during the run and missing at the end (goal 0)
  stale_commands   policy commands (not the stop command) whose stamp is more than obs_timeout
                   after the newest centre image relayed at or before it (goal 0): the policy
                   cannot have had a fresher valid image than the relay passed on (the extra
                   publisher's are refused or dropped by the node)
  nonfinite        commands with a non-finite value on policy/cmd, expert/cmd, cmd (goal 0)
  faults           per fault: when, and the policy ticks (commands on policy/cmd) or the mux
                   ticks the policy drove (dagger/control 1) from its start to the first stop
                   command, against a bound where one is owed:
                   camera_silence, sim_stall  policy/cmd, bound int(obs_timeout * rate) + 2
                                   ticks
                   bad_camera, bad_state  none owed: the sim's valid samples keep coming, and
                                   a tick stops only when a bad one is the newest (whether
                                   one is depends on the phase of three 10 Hz clocks); the
                                   node's counts say it refused them (observation_errors,
                                   bad_messages)
                   policy_kill     cmd (dagger/control 4), bound int(policy_timeout * rate) + 2
                                   policy-driven ticks (ticks the expert drove are safe)
                   recorder_kill, cpu_starve  none owed (the time to a stop is given if any)
  rss              per node: MB at start and end, and growth per hour (a line fitted to the
                   samples of its longest-lived process after 20 s)
  alive            every node's process running at the end and its output fresh
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from figures import write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAULT_KINDS = ("recorder_kill", "policy_kill", "camera_silence", "bad_camera", "bad_state",
               "cpu_starve", "sim_stall")
NODES = ("sim", "policy", "dagger", "recorder")
RESPAWN_DELAY = 2.0          # launch_descriptions.RESPAWN
CAMERA = "center"
RAW_TOPIC = "soak/center_raw"   # where the sim's centre camera goes; the relay passes it on
WARMUP_RSS_S = 20.0


# ---- the schedule (ROS-free) -----------------------------------------------------------------
def fault_schedule(seed: int, seconds: float, gap: float) -> list[tuple[float, str]]:
    """(offset in s, kind) for a run of ``seconds``: every kind once per cycle, in an order
    drawn per cycle, the gaps drawn from [gap, 2 gap). Offsets count from the graph being up;
    a fault waits for the graph to be healthy, so the real times are later."""
    rng = np.random.default_rng(seed)
    out, t = [], gap
    while True:
        for i in rng.permutation(len(FAULT_KINDS)):
            if t > seconds:
                return out
            out.append((round(t, 3), FAULT_KINDS[i]))
            t += gap * (1.0 + rng.random())


# ---- analysis (ROS-free) ---------------------------------------------------------------------
def is_stop(values) -> bool:
    return all(v == 0.0 for v in values)


def stale_commands(commands, relayed: list[float], obs_timeout: float) -> list[float]:
    """Stamps of policy commands (not stops) with no relayed image within obs_timeout before
    them. ``commands``: (received, stamp, values); ``relayed``: sorted image stamps."""
    bad = []
    for _, stamp, values in commands:
        if is_stop(values):
            continue
        i = bisect.bisect_right(relayed, stamp + 1e-6)
        if i == 0 or stamp - relayed[i - 1] > obs_timeout + 1e-6:
            bad.append(stamp)
    return bad


def ticks_to_stop(fault_start: float, ticks) -> tuple[int | None, float | None]:
    """``ticks``: (time, is_stop, counts) in time order. The ticks that count before the first
    stop at or after ``fault_start``, and the seconds to it; (None, None) without a stop."""
    n = 0
    for t, stop, counts in ticks:
        if t < fault_start:
            continue
        if stop:
            return n, round(t - fault_start, 3)
        n += counts
    return None, None


def rss_growth(samples) -> dict:
    """``samples``: (time, pid, MB). MB at start and end, and MB per hour fitted over the
    longest-lived process's samples after its first WARMUP_RSS_S seconds."""
    if not samples:
        return {}
    by_pid: dict[int, list] = {}
    for t, pid, mb in samples:
        by_pid.setdefault(pid, []).append((t, mb))
    longest = max(by_pid.values(), key=lambda s: s[-1][0] - s[0][0])
    t0 = longest[0][0]
    kept = [(t, mb) for t, mb in longest if t - t0 >= WARMUP_RSS_S]
    per_hour = None
    if len(kept) >= 3 and kept[-1][0] - kept[0][0] >= 60.0:
        ts, mbs = np.array(kept).T
        per_hour = round(float(np.polyfit(ts / 3600.0, mbs, 1)[0]), 1)
    return {"mb_start": round(samples[0][2], 1), "mb_end": round(samples[-1][2], 1),
            "processes": len(by_pid), "longest_s": round(longest[-1][0] - t0, 1),
            "mb_per_hour": per_hour}


def rss_mb(pid: int) -> float:
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    return float("nan")


def finished_on_disk(dataset: str) -> set[int]:
    """Indices of the finished (not recovered) episodes meta.json lists now."""
    try:
        with open(os.path.join(dataset, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return set()
    return {e["index"] for e in meta.get("episodes", []) if not e.get("recovered")}


# ---- the checkpoint --------------------------------------------------------------------------
def train_tiny(work: str, size: int) -> str:
    """Two expert episodes recorded over ROS 2, 20 training steps: a policy to run, not to fly."""
    from bc_ros.core.train.config import TrainConfig
    from bc_ros.core.train.trainer import train
    from bc_ros.sessions.recording import record_with_expert

    data = os.path.join(work, "demos")
    record_with_expert("drone", "trail", 2, data, rate_hz=500.0, image_size=(size, size),
                       quiet=True)
    train(TrainConfig(dataset=data, out=os.path.join(work, "run"), head="gaussian",
                      use_state=True, cameras=[CAMERA], steps=20, batch_size=16,
                      val_fraction=0.5, threads=1, progress=False))
    return os.path.join(work, "run", "last.pt")


# ---- the node processes ----------------------------------------------------------------------
class NodeProcess:
    """One node as ``python -m bc_ros.nodes.<module>`` with a parameter file; restartable."""

    def __init__(self, name: str, module: str, params: dict, work: str, remaps=(),
                 core: int | None = None):
        import yaml

        self.name, self.core = name, core
        path = os.path.join(work, f"{name}.yaml")
        with open(path, "w") as f:
            yaml.safe_dump({"/**": {"ros__parameters": params}}, f)
        self.cmd = [sys.executable, "-m", f"bc_ros.nodes.{module}", "--ros-args",
                    "--params-file", path]
        for a, b in remaps:
            self.cmd += ["-r", f"{a}:={b}"]
        self.log = open(os.path.join(work, f"{name}.log"), "ab")
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        core = self.core
        self.proc = subprocess.Popen(
            self.cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1",
                 "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])},
            preexec_fn=(lambda: os.sched_setaffinity(0, {core})) if core is not None else None)
        self.starts += 1

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGINT (what launch sends at shutdown), then SIGKILL if it hangs."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def graph(work: str, checkpoint: str, dataset: str, size: int, seed: int, beta: float,
          policy_core: int) -> tuple[float, dict[str, NodeProcess]]:
    """The four nodes (not started) and the control rate."""
    from bc_ros.core.sim import make_env
    from bc_ros.sessions.recording import recorder_overrides_for

    env = make_env("drone", "trail", image_size=(size, size))
    rec = recorder_overrides_for("drone", "trail", dataset, (size, size), env)
    rate = 1.0 / env.control_dt
    env.close()
    rec.update(auto_start=True, record_control=True, source="dagger", round=1)
    stamped = {"command_type": "twist_stamped"}
    return rate, {
        "sim": NodeProcess("sim", "sim_node", {
            "robot": "drone", "task": "trail", "seed": seed * 1000, "image_width": size,
            "image_height": size, "mode": "realtime", "expert_drives": False,
            "publish_expert": True, **stamped}, work,
            remaps=[(f"camera/{CAMERA}/image_raw", RAW_TOPIC)]),
        "policy": NodeProcess("policy", "policy_node", {
            "checkpoint": checkpoint, "mode": "realtime", "rate_hz": rate,
            "cmd_topic": "policy/cmd", "torch_threads": 1, **stamped}, work, core=policy_core),
        "dagger": NodeProcess("dagger", "dagger_node", {
            "mode": "beta", "beta": beta, "seed": seed, "rate_hz": rate, **stamped}, work),
        "recorder": NodeProcess("recorder", "recorder_node", rec, work),
    }


# ---- the monitor -----------------------------------------------------------------------------
class Monitor:
    """Relay, bad-message publisher and listener, spun in a thread of its own."""

    def __init__(self, size: int):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import TwistStamped
        from nav_msgs.msg import Odometry
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image
        from std_msgs.msg import Int8, String
        from std_srvs.srv import SetBool

        from bc_ros.nodes.runtime import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS

        self.Image, self.Odometry = Image, Odometry
        self.size = size
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("soak_monitor", context=self.context)
        n = self.node
        self.lock = threading.Lock()
        self.silent_until = 0.0
        self.bad_camera_until = 0.0
        self.bad_state_until = 0.0
        self.relayed: list[float] = []            # stamps of the images passed on
        self.last_relayed = 0.0                   # wall time
        self.commands = {"policy/cmd": [], "cmd": [], "expert/cmd": []}
        self.nonfinite = {k: 0 for k in self.commands}
        self.control: list[tuple[float, int]] = []
        self.recorder_status_at = 0.0
        self.diag_last: dict | None = None
        self.diag_done: list[dict] = []
        self.bad_sent = {"camera_size": 0, "camera_encoding": 0, "state_nan": 0}
        self.image_pub = n.create_publisher(Image, f"camera/{CAMERA}/image_raw", SENSOR_QOS)
        self.odom_pub = n.create_publisher(Odometry, "odom", SENSOR_QOS)
        n.create_subscription(Image, RAW_TOPIC, self._relay, SENSOR_QOS)
        for topic in self.commands:
            n.create_subscription(TwistStamped, topic, self._on_cmd(topic), COMMAND_QOS)
        n.create_subscription(Int8, "dagger/control", self._on_control, COMMAND_QOS)
        n.create_subscription(String, "recorder/status", self._on_status, LATCHED_QOS)
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, COMMAND_QOS)
        n.create_timer(0.02, self._bad_messages)
        self.SetBool = SetBool
        self.pause_client = n.create_client(SetBool, "sim/pause")
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(n)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self):
        import rclpy

        while rclpy.ok(context=self.context):
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except Exception:  # noqa: BLE001 - the context shut down under a callback
                if rclpy.ok(context=self.context):
                    raise

    @staticmethod
    def _t(stamp) -> float:
        return stamp.sec + stamp.nanosec * 1e-9

    def pause_sim(self, paused: bool, timeout: float = 10.0) -> bool:
        """Call sim_node's ~/pause (from the main thread; the monitor's thread spins)."""
        if not self.pause_client.wait_for_service(timeout_sec=timeout):
            return False
        future = self.pause_client.call_async(self.SetBool.Request(data=paused))
        deadline = time.time() + timeout
        while not future.done() and time.time() < deadline:
            time.sleep(0.01)
        return future.done() and future.result().success

    def _relay(self, msg):
        if time.time() < self.silent_until:
            return
        self.image_pub.publish(msg)
        with self.lock:
            self.relayed.append(self._t(msg.header.stamp))
            self.last_relayed = time.time()

    def _on_cmd(self, topic):
        def callback(msg):
            v = (msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z,
                 msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z)
            if not all(math.isfinite(x) for x in v):
                self.nonfinite[topic] += 1
            with self.lock:
                self.commands[topic].append((time.time(), self._t(msg.header.stamp), v))
        return callback

    def _on_control(self, msg):
        with self.lock:
            self.control.append((time.time(), int(msg.data)))

    def _on_status(self, msg):
        self.recorder_status_at = time.time()

    def _on_diag(self, msg):
        for status in msg.status:
            if status.name.endswith(": policy"):
                self.diag_last = {kv.key: kv.value for kv in status.values}

    def policy_gone(self):
        """Called at a policy kill: keep its last counts (a restarted node counts from 0)."""
        if self.diag_last is not None:
            self.diag_done.append(self.diag_last)
        self.diag_last = None

    def _bad_messages(self):
        now = time.time()
        stamp = self.node.get_clock().now().to_msg()
        if now < self.bad_camera_until:
            wrong_size = self.Image()       # a valid image of the wrong size
            wrong_size.header.stamp, wrong_size.header.frame_id = stamp, CAMERA
            wrong_size.height = wrong_size.width = 32
            wrong_size.encoding, wrong_size.step = "rgb8", 32 * 3
            wrong_size.data = bytes(32 * 32 * 3)
            self.image_pub.publish(wrong_size)
            self.bad_sent["camera_size"] += 1
            nan_floats = self.Image()       # NaN floats, an encoding nobody converts
            nan_floats.header.stamp, nan_floats.header.frame_id = stamp, CAMERA
            nan_floats.height = nan_floats.width = self.size
            nan_floats.encoding, nan_floats.step = "32FC1", self.size * 4
            nan_floats.data = np.full(self.size * self.size, np.nan, np.float32).tobytes()
            self.image_pub.publish(nan_floats)
            self.bad_sent["camera_encoding"] += 1
        if now < self.bad_state_until:
            odom = self.Odometry()
            odom.header.stamp, odom.header.frame_id = stamp, "odom"
            odom.pose.pose.position.x = odom.pose.pose.position.y = float("nan")
            odom.pose.pose.orientation.w = 1.0
            self.odom_pub.publish(odom)
            self.bad_sent["state_nan"] += 1

    def healthy(self, within: float = 1.5) -> bool:
        """The policy commanding (not stopping), the mux ticking, the recorder reporting."""
        now = time.time()
        with self.lock:
            cmds = self.commands["policy/cmd"][-3:]
            control = self.control[-1:] if self.control else []
        return (len(cmds) == 3 and all(now - c[0] < within and not is_stop(c[2]) for c in cmds)
                and bool(control) and now - control[0][0] < within
                and now - self.recorder_status_at < 3.0)

    def fresh(self) -> dict:
        now = time.time()
        with self.lock:
            last = {"sim": self.last_relayed,
                    "policy": self.commands["policy/cmd"][-1][0]
                    if self.commands["policy/cmd"] else 0.0,
                    "dagger": self.control[-1][0] if self.control else 0.0,
                    "recorder": self.recorder_status_at}
        return {k: now - v < 5.0 for k, v in last.items()}

    def close(self):
        import rclpy

        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=5)
        self.node.destroy_node()


# ---- the campaign ----------------------------------------------------------------------------
def wait_healthy(mon: Monitor, nodes, timeout: float) -> float | None:
    """Seconds until the graph is healthy (None: it was not within ``timeout``); a node that
    died on its own is restarted, as respawn would."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if mon.healthy():
            return round(time.time() - t0, 2)
        for node in nodes.values():
            if not node.alive():
                print(f"  {node.name} exited ({node.proc.returncode}); restarting", flush=True)
                node.start()
        time.sleep(0.2)
    return None


def inject(kind: str, mon: Monitor, nodes, args, policy_core: int) -> dict:
    start = time.time()
    record = {"kind": kind, "start": start}
    if kind in ("recorder_kill", "policy_kill"):
        name = kind.split("_")[0]
        if name == "recorder":
            record["finished_before"] = sorted(finished_on_disk(args.dataset))
        nodes[name].kill9()
        if name == "policy":
            mon.policy_gone()
        time.sleep(RESPAWN_DELAY)
        nodes[name].start()
        record["end"] = time.time()
    elif kind == "camera_silence":
        mon.silent_until = start + args.silence
        time.sleep(args.silence)
        record["end"] = time.time()
    elif kind == "bad_camera":
        mon.bad_camera_until = start + args.burst
        time.sleep(args.burst)
        record["end"] = time.time()
    elif kind == "bad_state":
        mon.bad_state_until = start + args.burst
        time.sleep(args.burst)
        record["end"] = time.time()
    elif kind == "cpu_starve":
        hog = subprocess.Popen(
            [sys.executable, "-c", "while True: pass"],
            preexec_fn=lambda: os.sched_setaffinity(0, {policy_core}))
        time.sleep(args.starve)
        hog.kill()
        hog.wait()
        record["end"] = time.time()
    elif kind == "sim_stall":
        record["paused"] = mon.pause_sim(True)
        time.sleep(args.stall)
        record["resumed"] = mon.pause_sim(False)
        record["end"] = time.time()
    return record


def analyse(mon: Monitor, faults: list[dict], rate: float, obs_timeout: float,
            policy_timeout: float) -> list[dict]:
    policy_ticks = [(stamp, is_stop(v), 1) for _, stamp, v in
                    sorted(mon.commands["policy/cmd"], key=lambda c: c[1])]
    # the mux's ticks: a stop (4) ends the wait; only ticks the policy drove (1) count
    mux_ticks = [(t, code == 4, int(code == 1)) for t, code in mon.control]
    bounds = {"camera_silence": int(obs_timeout * rate) + 2,
              "sim_stall": int(obs_timeout * rate) + 2,
              "policy_kill": int(policy_timeout * rate) + 2}
    out = []
    for f in faults:
        kind = f["kind"]
        ticks = mux_ticks if kind == "policy_kill" else policy_ticks
        n, seconds = ticks_to_stop(f["start"], ticks)
        bound = bounds.get(kind)
        out.append({**f, "topic": "cmd" if kind == "policy_kill" else "policy/cmd",
                    "ticks_to_stop": n, "seconds_to_stop": seconds, "bound_ticks": bound,
                    "within_bound": None if bound is None else (n is not None and n <= bound)})
    return out


def run(args) -> dict:
    from bc_ros.core.dagger.mux import MuxConfig
    from bc_ros.nodes.policy.node import PolicyNodeConfig

    obs_timeout = PolicyNodeConfig.__dataclass_fields__["obs_timeout"].default
    policy_timeout = MuxConfig.__dataclass_fields__["policy_timeout"].default
    work = args.work or tempfile.mkdtemp(prefix="bc_ros_soak_")
    os.makedirs(work, exist_ok=True)
    args.dataset = os.path.join(work, "dataset")
    policy_core = max(os.sched_getaffinity(0))
    t0 = time.time()
    checkpoint = args.checkpoint or train_tiny(work, args.size)
    print(f"checkpoint {checkpoint} ({time.time() - t0:.0f} s); work folder {work}", flush=True)
    rate, nodes = graph(work, checkpoint, args.dataset, args.size, args.seed, args.beta,
                        policy_core)
    mon = Monitor(args.size)
    schedule = fault_schedule(args.seed, args.minutes * 60.0, args.gap)
    begin = None
    faults, rss, alive, returncodes = [], [], {}, {}
    try:
        for node in nodes.values():
            node.start()
        up = wait_healthy(mon, nodes, args.startup)
        if up is None:
            raise RuntimeError(f"the graph did not come up within {args.startup} s "
                               f"(logs in {work})")
        print(f"graph up in {up} s; {len(schedule)} faults over {args.minutes:g} min "
              f"(seed {args.seed})", flush=True)
        begin = time.time()
        end = begin + args.minutes * 60.0
        pending = list(schedule)
        next_rss = 0.0
        # every fault planned within --minutes happens, even when recoveries made it late
        while time.time() < end or pending:
            now = time.time()
            if now >= next_rss:
                for node in nodes.values():
                    if node.alive():
                        try:
                            rss.append((now, node.name, node.proc.pid, rss_mb(node.proc.pid)))
                        except (OSError, ProcessLookupError):
                            pass
                next_rss = now + args.sample_every
            if pending and now - begin >= pending[0][0]:
                offset, kind = pending.pop(0)
                ready = wait_healthy(mon, nodes, args.recover)
                record = inject(kind, mon, nodes, args, policy_core)
                record.update(planned_s=offset, at_s=round(record["start"] - begin, 1),
                              waited_healthy_s=ready)
                faults.append(record)
                print(f"  {record['at_s']:7.1f} s  {kind}", flush=True)
                continue
            time.sleep(0.2)
        recovered = wait_healthy(mon, nodes, args.recover)
        time.sleep(1.0)
        fresh = mon.fresh()
        alive = {name: node.alive() and fresh[name] for name, node in nodes.items()}
        finished_seen = finished_on_disk(args.dataset)
        for f in faults:
            finished_seen |= set(f.pop("finished_before", []))
    finally:
        for name in ("sim", "dagger", "policy", "recorder"):   # the recorder last: saves
            returncodes[name] = nodes[name].stop()
        mon_data = mon
        mon.close()

    from bc_ros.core.data.store import EpisodeStore

    store = EpisodeStore(args.dataset)
    episodes = store.episodes
    quarantine = store.quarantine_dir
    quarantined = len(os.listdir(quarantine)) if os.path.isdir(quarantine) else 0
    final = {e["index"] for e in episodes if not e.get("recovered")}
    relayed = sorted(mon_data.relayed)
    stale = stale_commands(mon_data.commands["policy/cmd"], relayed, obs_timeout)
    counts = {}
    for d in mon_data.diag_done + ([mon_data.diag_last] if mon_data.diag_last else []):
        for key in ("ticks", "commands", "stop_commands", "watchdog_trips", "ticks_skipped",
                    "observation_errors", "bad_messages", "nonfinite", "dropped"):
            counts[key] = counts.get(key, 0) + int(d.get(key, 0))
    for f in faults:
        f["start"], f["end"] = round(f["start"] - begin, 2), round(f["end"] - begin, 2)
    analysed = analyse_rel(mon_data, faults, begin, rate, obs_timeout, policy_timeout)
    by_node = {name: rss_growth([(t, pid, mb) for t, n, pid, mb in rss if n == name])
               for name in NODES}
    return {
        "minutes": args.minutes, "seed": args.seed, "gap_s": args.gap, "image_size": args.size,
        "beta": args.beta, "rate_hz": rate, "obs_timeout": obs_timeout,
        "policy_timeout": policy_timeout, "graph_up_s": up,
        "stall_s": args.stall,
        "episodes": {"finished": len(final), "salvaged": sum(1 for e in episodes
                                                             if e.get("recovered")),
                     "quarantined": quarantined,
                     "lost": sorted(finished_seen - final)},
        "policy_commands": len(mon_data.commands["policy/cmd"]),
        "stale_commands": len(stale), "stale_stamps": stale[:20],
        "nonfinite_commands": dict(mon_data.nonfinite),
        "bad_messages_sent": mon_data.bad_sent,
        "policy_counts": counts,
        "faults": analysed,
        "rss": by_node,
        "alive_at_end": alive, "recovered_at_end_s": recovered,
        "exit_codes": returncodes,
        "starts": {name: node.starts for name, node in nodes.items()},
        "work": work,
    }


def analyse_rel(mon, faults, begin, rate, obs_timeout, policy_timeout):
    """``analyse`` on fault times relative to ``begin`` (what the JSON keeps)."""
    absolute = [{**f, "start": f["start"] + begin, "end": f["end"] + begin} for f in faults]
    out = analyse(mon, absolute, rate, obs_timeout, policy_timeout)
    for rel, a in zip(faults, out):
        a["start"], a["end"] = rel["start"], rel["end"]
    return out


def summary_table(r: dict) -> str:
    lines = [f"soak: {r['minutes']:g} min, seed {r['seed']}, {len(r['faults'])} faults",
             f"episodes finished {r['episodes']['finished']}, salvaged "
             f"{r['episodes']['salvaged']}, quarantined {r['episodes']['quarantined']}, "
             f"lost {len(r['episodes']['lost'])}",
             f"policy commands {r['policy_commands']}, stale {r['stale_commands']}, "
             f"non-finite {sum(r['nonfinite_commands'].values())}",
             "", f"{'at s':>7}  {'fault':<15} {'topic':<11} {'ticks to stop':>13} "
                 f"{'s to stop':>9} {'bound':>5}  ok"]
    for f in r["faults"]:
        lines.append(f"{f['at_s']:7.1f}  {f['kind']:<15} {f['topic']:<11} "
                     f"{str(f['ticks_to_stop']):>13} {str(f['seconds_to_stop']):>9} "
                     f"{str(f['bound_ticks']):>5}  "
                     f"{'-' if f['within_bound'] is None else f['within_bound']}")
    lines += ["", f"{'node':<9} {'alive':<6} {'starts':>6} {'RSS MB start':>12} "
                  f"{'end':>6} {'MB/h':>7}"]
    for name in NODES:
        g = r["rss"].get(name) or {}
        lines.append(f"{name:<9} {str(r['alive_at_end'].get(name)):<6} {r['starts'][name]:>6} "
                     f"{g.get('mb_start', '-'):>12} {g.get('mb_end', '-'):>6} "
                     f"{str(g.get('mb_per_hour', '-')):>7}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="soak length after start-up")
    p.add_argument("--seed", type=int, default=0, help="fault schedule, sim and mux seeds")
    p.add_argument("--gap", type=float, default=60.0, help="seconds between faults: [gap, 2 gap)")
    p.add_argument("--silence", type=float, default=3.0, help="camera silence, s")
    p.add_argument("--burst", type=float, default=3.0, help="bad-message bursts, s")
    p.add_argument("--starve", type=float, default=5.0, help="CPU starvation, s")
    p.add_argument("--stall", type=float, default=5.0, help="sim stall (paused), s")
    p.add_argument("--beta", type=float, default=0.5, help="probability the expert drives a tick")
    p.add_argument("--size", type=int, default=48, help="camera images, pixels a side")
    p.add_argument("--startup", type=float, default=240.0, help="s for the graph to come up")
    p.add_argument("--recover", type=float, default=90.0,
                   help="s a fault waits for the graph to be healthy again")
    p.add_argument("--sample-every", type=float, default=5.0, help="RSS sampling period, s")
    p.add_argument("--checkpoint", default="", help="use this checkpoint (default: train one)")
    p.add_argument("--work", default="", help="work folder (default: a new temporary one)")
    p.add_argument("--json", default=os.path.join(ROOT, "docs", "figures", "soak.json"))
    args = p.parse_args(argv)
    os.environ.setdefault("ROS_DOMAIN_ID", str(201 + os.getpid() % 30))
    result = run(args)
    write_json(args.json, result)
    print(summary_table(result))
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    raise SystemExit(main())
