"""``bc-ros demo``: the main job, the whole pipeline in the sims.

Stages (each writes ``<out>/<stage>.json``; a re-run reuses finished stages unless ``--force``):

1. experts    every sim task flown by its scripted expert over ROS 2 (sim node + a monitor that
              subscribes to what a recorder or policy would); camera snapshots
2. record     expert demonstrations over ROS 2 (sim node + recorder node): drone trail (clean and
              noise-injected) and drone bypass
3. trail      BC on trail: centre camera, + side-camera augmentation, + noise-injected demos
4. heads      every head (gaussian, mog, diffusion, ar, cvae) on bypass
              (3 and 4 train ``jobs`` experiments at once, one process and torch thread each)
5. dagger     DAgger rounds on trail over ROS 2 (sim, policy, mux and recorder nodes), beta mixing
6. latency    batch-1 inference time of every trained bypass policy, eager and onnxruntime
7. report     ``report.md`` with the tables, ``results.json``, plots

``--quick`` uses tiny counts (a few demonstrations, tens of training steps, a few evaluation
seeds) so it finishes in minutes; its numbers only show that every stage runs. The figures quoted
in the README come from the full-size scripts in ``benchmarks/``.
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
    from rclpy.node import Node

    from bc_ros.nodes import conversions as conv
    from bc_ros.nodes.runtime import make_executor
    from bc_ros.nodes.sim_node import SimNode

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        sim = SimNode({"robot": robot, "task": task, "seed": seed, "episodes": episodes,
                       "expert_drives": True, "rate_hz": 1000.0},
                      snapshot_dir=os.path.join(out, "snapshots"), snapshot_step=25,
                      context=context)
        state_topic, state_type = (("odom", conv.Odometry)
                                   if sim.session.env.state_type == "odometry"
                                   else ("joint_states", conv.JointState))
        monitor = _monitor(Node, context, sim.session.env.camera_names, state_topic, state_type)
        executor = make_executor(context)
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


SIZES = {
    "quick": {"expert_episodes": 1, "trail_demos": 3, "bypass_demos": 4, "steps": 60,
              "eval_episodes": 3, "dagger_rounds": 1, "dagger_episodes": 1, "dagger_steps": 40,
              "dagger_demos": 1,
              "latency_calls": 30, "batch_size": 32},
    "full": {"expert_episodes": 3, "trail_demos": 10, "bypass_demos": 30, "steps": 500,
             "eval_episodes": 30, "dagger_rounds": 3, "dagger_episodes": 3,
             "dagger_steps": 500, "dagger_demos": 2, "latency_calls": 300, "batch_size": 64},
}
HEAD_OPTIONS = {"gaussian": {}, "mog": {"num_modes": 5}, "diffusion": {}, "ar": {}, "cvae": {}}
STAGES = ("experts", "record", "trail", "heads", "dagger", "latency", "report")


def _experiment(spec: dict, runs: str, episodes: int, force: bool) -> dict:
    """One train + evaluate (in a worker process when the demo runs several at once)."""
    import torch

    from bc_ros.core.train.experiments import run_experiment
    torch.set_num_threads(1)
    r = run_experiment(spec, runs, episodes=episodes, force=force, progress=False)
    return {k: v for k, v in r.items() if k != "records"}


def _ms(value) -> str:
    """A time for the report; '-' where a stage reused from an older run lacks it."""
    return "-" if value is None else f"{value:.2f}"


class Demo:
    def __init__(self, out: str, quick: bool, force: bool = False, jobs: int = 2):
        self.out, self.quick, self.force = out, quick, force
        self.jobs = max(1, jobs)
        self.size = SIZES["quick" if quick else "full"]
        self.data = os.path.join(out, "data")
        self.runs = os.path.join(out, "runs")
        self.t0 = time.perf_counter()
        self.durations: dict[str, float] = {}
        os.makedirs(out, exist_ok=True)

    # ---- bookkeeping -------------------------------------------------------------------------
    def stage(self, k: int, name: str, fn) -> dict:
        path = os.path.join(self.out, f"{name}.json")
        done = os.path.exists(path) and not self.force
        elapsed = time.perf_counter() - self.t0
        print(f"[{k}/{len(STAGES)}] {name}{' (reused)' if done else ''}  "
              f"({elapsed / 60:.1f} min so far)", flush=True)
        if done:
            with open(path) as f:
                return json.load(f)
        t = time.perf_counter()
        result = fn()
        result["_seconds"] = time.perf_counter() - t
        with open(path + ".tmp", "w") as f:
            json.dump(result, f, indent=1)
        os.replace(path + ".tmp", path)
        return result

    def train(self, extra: dict) -> dict:
        return {"steps": self.size["steps"], "batch_size": self.size["batch_size"],
                "val_every": max(1, self.size["steps"] // 2),
                "save_every": max(1, self.size["steps"] // 2), "threads": 1, **extra}

    # ---- stages ------------------------------------------------------------------------------
    def experts(self) -> dict:
        results = []
        for robot, task in DEMO_TASKS:
            r = run_task(robot, task, self.size["expert_episodes"], self.out, seed=1_000_000)
            print(f"    {robot} {task}: {r['successes']}/{len(r['episodes'])} expert episodes "
                  f"succeeded; {r['steps_per_s']} steps/s over ROS", flush=True)
            results.append(r)
        return {"tasks": results}

    def record(self) -> dict:
        from bc_ros.sessions.recording import record_with_expert
        out = {}
        for name, task, n, noise in (("trail", "trail", self.size["trail_demos"], 0.0),
                                     ("trail_noisy", "trail", self.size["trail_demos"], 0.3),
                                     ("bypass", "bypass", self.size["bypass_demos"], 0.0)):
            path = os.path.join(self.data, name)
            if os.path.exists(path):      # a stage cut short: start its data afresh
                import shutil
                shutil.rmtree(path)
            r = record_with_expert("drone", task, n, path, seed=0, rate_hz=1000.0,
                                   noise_std=noise, quiet=True)
            out[name] = {"episodes": len(r["episodes"]), "seconds": r["seconds"],
                         "ticks": sum(e["length"] for e in r["episodes"])}
            print(f"    {name}: {out[name]['episodes']} episodes, {out[name]['ticks']} ticks "
                  f"over ROS in {r['seconds']:.0f} s", flush=True)
        return out

    def spec(self, name, label, dataset, task, train) -> dict:
        return {"name": name, "label": label, "robot": "drone", "task": task,
                "dataset": os.path.join(self.data, dataset), "train": self.train(train)}

    def experiments(self, specs: list[dict]) -> list[dict]:
        """Train and evaluate independent experiments, ``jobs`` at a time (each in its own
        process with one torch thread), saying after each how long the rest should take."""
        import concurrent.futures
        import functools
        import multiprocessing

        run = functools.partial(_experiment, runs=self.runs,
                                episodes=self.size["eval_episodes"], force=self.force)
        results, t0 = {}, time.perf_counter()

        def done(spec, r):
            results[spec["name"]] = r
            n, k = len(specs), len(results)
            left = (time.perf_counter() - t0) / k * (n - k)
            print(f"    {spec['label']}: {r['successes']}/{r['episodes']} on held-out seeds "
                  f"(trained {r['train_seconds']:.0f} s); {k}/{n} done"
                  + (f", about {left / 60:.0f} min left in this stage" if n > k else ""),
                  flush=True)

        if self.jobs <= 1 or len(specs) == 1:
            for spec in specs:
                done(spec, run(spec))
        else:
            # spawn: a forked child would inherit this process's torch thread pool and ROS state
            with concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.jobs,
                    mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {pool.submit(run, spec): spec for spec in specs}
                for future in concurrent.futures.as_completed(futures):
                    done(futures[future], future.result())
        return [results[spec["name"]] for spec in specs]

    def trail(self) -> dict:
        center = {"head": "gaussian", "cameras": ["center"], "use_state": False}
        return {"results": self.experiments([
            self.spec("trail_center", "BC, centre camera", "trail", "trail", center),
            self.spec("trail_sidecam", "BC + side cameras", "trail", "trail",
                      {**center, "cameras": [], "side_camera": "continuous"}),
            self.spec("trail_noise", "BC + noise-injected demos", "trail_noisy", "trail",
                      center)])}

    def heads(self) -> dict:
        return {"results": self.experiments([
            self.spec(f"bypass_{h}", h, "bypass", "bypass",
                      {"head": h, "head_options": o, "cameras": ["center"], "use_state": False})
            for h, o in HEAD_OPTIONS.items()])}

    def dagger(self) -> dict:
        from bc_ros.sessions.dagger import DaggerRunConfig, run_dagger
        cfg = DaggerRunConfig(
            robot="drone", task="trail", demos=os.path.join(self.data, "trail"),
            out=os.path.join(self.runs, "dagger"), rounds=self.size["dagger_rounds"],
            episodes_per_round=self.size["dagger_episodes"], beta_schedule="exponential",
            beta_start=1.0, beta_decay=0.5, eval_episodes=self.size["eval_episodes"],
            train={**self.train({"head": "gaussian", "cameras": ["center"], "progress": False,
                                 "use_state": False}),
                   "steps": self.size["dagger_steps"],
                   "episodes": list(range(self.size["dagger_demos"]))})
        return run_dagger(cfg, progress=lambda m: print(f"    {m}", flush=True))

    def latency(self) -> dict:
        import numpy as np
        import torch

        from bc_ros.core.policy.backend import make_backend
        from bc_ros.core.policy.checkpoint import load_checkpoint
        torch.set_num_threads(1)

        def timed(policy, images) -> list[float]:
            times = []
            for i in range(self.size["latency_calls"] + 10):
                t = time.perf_counter()
                policy.select_action(images)
                if i >= 10:
                    times.append(1000 * (time.perf_counter() - t))
            return times

        rows = []
        for head in HEAD_OPTIONS:
            policy, _ = load_checkpoint(os.path.join(self.runs, f"bypass_{head}", "last.pt"))
            w, h = policy.config.image_size
            rng = np.random.default_rng(0)
            images = rng.integers(0, 255, (len(policy.config.cameras), h, w, 3), np.uint8)
            eager = timed(policy, images)
            policy.set_backend(make_backend("onnxruntime", policy))   # policy_node's option
            fast = timed(policy, images)
            rows.append({"head": head, "median_ms": float(np.median(eager)),
                         "p99_ms": float(np.percentile(eager, 99)),
                         "onnxruntime_median_ms": float(np.median(fast)),
                         "onnxruntime_p99_ms": float(np.percentile(fast, 99)),
                         "horizon": policy.config.horizon})
            r = rows[-1]
            print(f"    {head}: select_action median {r['median_ms']:.2f} ms, p99 "
                  f"{r['p99_ms']:.2f} ms; onnxruntime {r['onnxruntime_median_ms']:.2f} / "
                  f"{r['onnxruntime_p99_ms']:.2f} ms", flush=True)
        return {"rows": rows}

    def report(self, results: dict) -> dict:
        from bc_ros.core.train.evaluate import plot_results
        from bc_ros.core.train.experiments import results_table
        plot_results(results["trail"]["results"], os.path.join(self.out, "trail.png"),
                     "drone trail: held-out success")
        plot_results(results["heads"]["results"], os.path.join(self.out, "heads.png"),
                     "drone bypass: held-out success per head")
        size = "QUICK RUN (tiny counts: the numbers only show the stages run)" if self.quick \
            else "full run"
        lines = [f"# bc-ros demo report ({size})", "",
                 f"Sizes: {json.dumps(self.size)}", "",
                 "## Drone trail: behavioral cloning variants", "",
                 results_table(results["trail"]["results"]), "", "![trail](trail.png)", "",
                 "## Drone bypass: one head each", "",
                 results_table(results["heads"]["results"]), "", "![heads](heads.png)", "",
                 "## DAgger on trail (beta mixing, exponential schedule)", "",
                 "| round | beta | held-out success | labels added | autonomous ticks | "
                 "dataset ticks | wall s |", "|---|---|---|---|---|---|---|"]
        for m in results["dagger"]["rounds"]:
            rate = "-" if m["success_rate"] is None else f"{100 * m['success_rate']:.0f} %"
            beta = "-" if m["beta"] is None else f"{m['beta']:.2f}"
            lines.append(f"| {m['round']} | {beta} | {rate} | {m['expert_labels_added']} | "
                         f"{100 * m['autonomous_fraction']:.0f} % | {m['dataset_size']} | "
                         f"{m['wall_time_s']:.0f} |")
        lines += ["", "![dagger](runs/dagger/dagger.png)", "",
                  "## Batch-1 inference (select_action, 3 cameras, 1 thread)", "",
                  "| head | median ms | p99 ms | onnxruntime median ms | onnxruntime p99 ms |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['head']} | {r['median_ms']:.2f} | {r['p99_ms']:.2f} | "
                  f"{_ms(r.get('onnxruntime_median_ms'))} | {_ms(r.get('onnxruntime_p99_ms'))} |"
                  for r in results["latency"]["rows"]]
        experts = results["experts"]["tasks"]
        lines += ["", "## Scripted experts over ROS 2", "",
                  "| robot | task | success | steps/s |", "|---|---|---|---|"]
        lines += [f"| {r['robot']} | {r['task']} | {r['successes']}/{len(r['episodes'])} | "
                  f"{r['steps_per_s']} |" for r in experts]
        with open(os.path.join(self.out, "report.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        return {"report": os.path.join(self.out, "report.md")}


def run_demo(out: str = "results", quick: bool = False, force: bool = False,
             jobs: int | None = None) -> int:
    """``jobs``: experiments trained at once (default: the CPU cores, at most 2)."""
    demo = Demo(out, quick, force, jobs if jobs is not None else min(2, os.cpu_count() or 1))
    kind = "quick" if quick else "full"
    print(f"bc-ros demo ({kind}): record over ROS 2, train, evaluate, DAgger -> {out}/")
    results = {}
    for k, name in enumerate(STAGES, 1):
        if name == "report":
            results[name] = demo.stage(k, name, lambda: demo.report(results))
        else:
            results[name] = demo.stage(k, name, getattr(demo, name))
    print(f"done in {(time.perf_counter() - demo.t0) / 60:.1f} min: {results['report']['report']}")
    failed = [r for r in results["experts"]["tasks"] if r["successes"] < len(r["episodes"])]
    return 1 if failed else 0
