"""Achieved publish rate of sim_node, seen by a subscriber in another process.

    python benchmarks/bench_sim_rate.py [--robot drone] [--seconds 10] [--json F]

For each image size (3 x 96x96, 3 x 640x480) the sim node runs as fast as it can (expert driving,
rate_hz 1000) in a child process pinned to one core; this process, pinned to the other core,
counts complete ticks (all three camera images plus the state message of one stamp) over a
window after warm-up. Beside it, the ROS-free ``env.step`` rate on one core shows what the
publishing costs. Goal: >= 30 Hz at 96x96 on one core.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import time

from figures import write_json

SIZES = ((96, 96), (640, 480))


def env_step_rate(robot: str, task: str, size, steps: int = 100) -> float:
    """Median steps/s of the bare sim (expert commands), measured in this process."""
    from bc_ros.core.sim import eval_seeds, make_env

    with make_env(robot, task, image_size=size) as env:
        env.reset(eval_seeds(1)[0])
        durations = []
        for _ in range(steps):
            action = env.expert_action()
            t0 = time.perf_counter()
            _, _, term, trunc, _ = env.step(action)
            durations.append(time.perf_counter() - t0)
            if term or trunc:
                env.reset(eval_seeds(2)[1])
    return 1.0 / statistics.median(durations)


def node_rate(robot: str, task: str, size, seconds: float, warmup: float = 3.0) -> dict:
    """Ticks/s of a sim_node child process as received here."""
    import rclpy
    from rclpy.node import Node

    from bc_ros.nodes import conversions as conv
    from bc_ros.nodes.runtime import SENSOR_QOS

    cmd = [sys.executable, "-m", "bc_ros.cli", "sim", robot, "--task", task, "--expert",
           "--rate", "1000", "--image-size", f"{size[0]}x{size[1]}", "--seed", "1000000"]
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("bench_sim_rate", context=context)
    parts = collections.defaultdict(set)  # stamp -> topics seen
    complete = []                          # receive times of complete ticks
    state_topic, state_type = (("odom", conv.Odometry) if robot == "drone"
                               else ("joint_states", conv.JointState))

    def on(topic):
        def callback(msg):
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            parts[key].add(topic)
            if len(parts[key]) == 4:
                complete.append(time.monotonic())
                del parts[key]
        return callback

    for c in ("left", "center", "right"):
        node.create_subscription(conv.Image, f"camera/{c}/image_raw", on(c), SENSOR_QOS)
    node.create_subscription(state_type, state_topic, on("state"), SENSOR_QOS)
    from rclpy.executors import SingleThreadedExecutor
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        start = time.monotonic()
        while not complete and time.monotonic() - start < 60:
            executor.spin_once(timeout_sec=0.1)
        if not complete:
            raise RuntimeError("no tick received from the sim node in 60 s: "
                               + child.stderr.read1().decode(errors="replace"))
        t_warm = time.monotonic() + warmup
        while time.monotonic() < t_warm + seconds:
            executor.spin_once(timeout_sec=0.1)
        window = [t for t in complete if t_warm <= t < t_warm + seconds]
        per_second = collections.Counter(int(t - t_warm) for t in window)
        return {"ticks_per_s": len(window) / seconds,
                "median_ticks_per_s_per_second": statistics.median(
                    per_second.get(i, 0) for i in range(int(seconds))),
                "incomplete_ticks": len(parts)}
    finally:
        child.terminate()
        child.wait(10)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robot", choices=("drone", "arm"), action="append")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", str(50 + os.getpid() % 50))
    os.sched_setaffinity(0, {1})
    results = []
    for robot in args.robot or ["drone", "arm"]:
        task = {"drone": "trail", "arm": "reach_around"}[robot]
        for size in SIZES:
            bare = env_step_rate(robot, task, size)
            r = node_rate(robot, task, size, args.seconds)
            r.update(robot=robot, task=task, image_size=f"{size[0]}x{size[1]}",
                     env_steps_per_s=bare)
            results.append(r)
            print(f"{robot:5s} 3 x {size[0]}x{size[1]}: sim_node {r['ticks_per_s']:.1f} ticks/s "
                  f"(median per second {r['median_ticks_per_s_per_second']}), bare env.step "
                  f"{bare:.1f} steps/s, node/bare {r['ticks_per_s'] / bare:.2f}", flush=True)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
