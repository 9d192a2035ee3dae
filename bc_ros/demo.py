"""``bc-ros demo``: the main job. For now: every sim task flown by its scripted expert over ROS 2.

For each robot/task a sim node runs with the scripted expert driving, faster than real time, and a
monitor node subscribes to what a recorder or policy would (cameras, state, expert/cmd,
sim/outcome). The demo prints each episode's outcome and what crossed the wire, writes camera
snapshots and ``demo.json`` to the output folder. Later issues grow this into the whole pipeline
(record, train, evaluate, DAgger).
"""

from __future__ import annotations

import collections
import json
import os
import time

DEMO_TASKS = (("drone", "trail"), ("drone", "bypass"), ("arm", "reach_around"), ("arm", "push"))


def _monitor(node_cls, context, camera_names, state_topic, state_type):
    from std_msgs.msg import String

    from bc_ros.nodes import conversions as conv
    from bc_ros.nodes.runtime import COMMAND_QOS, SENSOR_QOS

    class Monitor(node_cls):
        def __init__(self):
            super().__init__("demo_monitor", context=context)
            self.counts = collections.Counter()
            self.outcomes = []
            self.image_shapes = set()
            for name in camera_names:
                self.create_subscription(conv.Image, f"camera/{name}/image_raw",
                                         self._on_image, SENSOR_QOS)
            self.create_subscription(state_type, state_topic,
                                     lambda m: self.counts.update([state_topic]), SENSOR_QOS)
            self.create_subscription(conv.Twist, "expert/cmd",
                                     lambda m: self.counts.update(["expert/cmd"]), COMMAND_QOS)
            self.create_subscription(String, "sim/outcome",
                                     lambda m: self.outcomes.append(json.loads(m.data)),
                                     COMMAND_QOS)

        def _on_image(self, msg):
            self.counts.update(["images"])
            self.image_shapes.add((msg.width, msg.height, msg.encoding))

    return Monitor()


def run_task(robot: str, task: str, episodes: int, out: str, seed: int) -> dict:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from bc_ros.nodes import conversions as conv
    from bc_ros.nodes.sim_node import SimNode

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        sim = SimNode({"robot": robot, "task": task, "seed": seed, "episodes": episodes,
                       "expert_drives": True, "rate_hz": 1000.0},
                      snapshot_dir=os.path.join(out, "snapshots"), snapshot_step=25,
                      context=context)
        state_topic, state_type = (("odom", conv.Odometry) if robot == "drone"
                                   else ("joint_states", conv.JointState))
        monitor = _monitor(Node, context, sim.session.env.camera_names, state_topic, state_type)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(sim)
        executor.add_node(monitor)
        t0 = time.perf_counter()
        while not sim.done:
            executor.spin_once(timeout_sec=0.1)
        deadline = time.monotonic() + 2.0  # let the last outcome message arrive
        while len(monitor.outcomes) < episodes and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        wall = time.perf_counter() - t0
        outcomes = [o.__dict__ for o in sim.session.outcomes]
        steps = sum(o["steps"] for o in outcomes)
        result = {"robot": robot, "task": task, "episodes": outcomes,
                  "successes": sum(o["success"] for o in outcomes),
                  "steps": steps, "wall_s": round(wall, 2),
                  "steps_per_s": round(steps / wall, 1),
                  "received": dict(monitor.counts), "outcomes_received": len(monitor.outcomes),
                  "image_formats": sorted(monitor.image_shapes)}
        executor.shutdown()
        sim.close()
        sim.destroy_node()
        monitor.destroy_node()
        return result
    finally:
        rclpy.try_shutdown(context=context)


def run_demo(out: str = "results", episodes: int = 3) -> int:
    os.makedirs(out, exist_ok=True)
    results = []
    print(f"bc-ros demo: scripted experts over ROS 2, {episodes} episodes per task -> {out}/")
    for i, (robot, task) in enumerate(DEMO_TASKS, 1):
        print(f"[{i}/{len(DEMO_TASKS)}] {robot} {task} ...", flush=True)
        r = run_task(robot, task, episodes, out, seed=1_000_000)
        for o in r["episodes"]:
            verdict = "success" if o["success"] else f"FAILURE ({o['failure']})"
            side = f", passed on the {o['mode']}" if o.get("mode") else ""
            print(f"    episode {o['episode']} seed {o['seed']}: {verdict} in {o['steps']} "
                  f"steps{side}")
        print(f"    {r['successes']}/{len(r['episodes'])} succeeded; {r['steps_per_s']} steps/s; "
              f"received {r['received'].get('images', 0)} images "
              f"{r['image_formats']}, {r['outcomes_received']} outcomes", flush=True)
        results.append(r)
    with open(os.path.join(out, "demo.json"), "w") as f:
        json.dump(results, f, indent=2)
    total = sum(r["successes"] for r in results)
    count = sum(len(r["episodes"]) for r in results)
    print(f"done: {total}/{count} expert episodes succeeded; snapshots in "
          f"{os.path.join(out, 'snapshots')}, figures in {os.path.join(out, 'demo.json')}")
    return 0 if total == count else 1
