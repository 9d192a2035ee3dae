"""policy_node latency and control rate, across processes, with 3 x 96x96 cameras.

    python benchmarks/bench_policy_node.py [--heads gaussian,diffusion] [--backend onnxruntime]
                                           [--json F]

Untrained policies (random weights, fitted normalizer) of every head: left/center/right cameras at
96x96, an 8-value odometry state, the default encoder, chunks of 8 actions of which 1 is executed
(so every observation runs the model: the worst case).

latency   policy_node (lockstep) in a child process pinned to core 0; this process, pinned to
          core 1, publishes the three images and odometry of one stamp and times until the
          TwistStamped answering that stamp arrives, and where that time goes (stages marked on
          the monotonic clock both processes share: the client's publish, the node's sample
          callbacks, the hand-off to the inference thread, inference, the reply). Observations
          go out at most at 30 Hz, the next only after the answer. Median and p99 per head,
          beside the bare forward pass (``Policy.select_action`` after a reset: one encode and
          one chunk on the node's backend, one thread, timed in the node's process before and
          after it serves, back to back and paced at 30 Hz like the observations) and the
          node's own inference time (its diagnostics: ``PolicyRunner.act`` in the inference
          thread).
--preset  each head as the task's preset trains it (horizon, candidates, head options, and the
          actions executed per chunk): only every k-th observation then plans a chunk, and
          ``planning_ticks`` gives the latency of those, the slow ones (an AR head decodes only
          the executed steps of its chunk).
rate      policy_node (realtime, rate_hz 30 and 100, every head) against cameras published at
          30 Hz and odometry at 100 Hz (wall-clock stamps): commands received per second, and the
          node's diagnostics (achieved tick rate, ticks skipped while inference was busy, ticks
          whose inference took longer than a period).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from figures import write_json

CAMERAS = ["left", "center", "right"]
SIZE = (96, 96)
DRONE = ["vx", "vy", "vz", "yaw_rate"]
LOW, HIGH = [-1.0, -1.5, -1.0, -1.5], [3.0, 1.5, 1.0, 1.5]
HORIZON, N_ACTION_STEPS = 8, 1
RATES = (30.0, 100.0)


def make_checkpoint(head: str, path: str, activation: str | None = None,
                    horizon: int = HORIZON, candidates: int = 1,
                    head_options: dict | None = None,
                    n_action_steps: int = N_ACTION_STEPS) -> None:
    import numpy as np

    from bc_ros.core.data.stats import feature_stats
    from bc_ros.core.policy.checkpoint import save_checkpoint
    from bc_ros.core.policy.policy import Policy, PolicyConfig

    import torch
    torch.manual_seed(0)
    cfg = PolicyConfig(head=head, head_options=head_options or {}, cameras=CAMERAS,
                       image_size=SIZE, state_dim=8,
                       state_names=[f"odometry_{i}" for i in range(8)], action_names=DRONE,
                       command_type="twist_stamped", horizon=horizon,
                       n_action_steps=n_action_steps, robot="drone",
                       chunk_candidates=candidates,
                       encoder={"activation": activation} if activation else {})
    policy = Policy(cfg)
    rng = np.random.default_rng(0)
    policy.normalizer.fit({"state": feature_stats(rng.normal(size=(100, 8))),
                           "action": feature_stats(rng.normal(size=(100, 4)) * 0.3)})
    save_checkpoint(policy, path)


def percentiles(values) -> dict:
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    return {"median_ms": round(float(np.median(v)), 3),
            "p99_ms": round(float(np.percentile(v, 99)), 3), "n": int(v.size)}


def forward_pass(path: str, n: int = 60, period: float = 0.0,
                 backend: str = "torch") -> list[float]:
    """Bare model times (ms) in this process, one thread: ``Policy.select_action`` of one
    observation right after ``reset`` (one encode, one chunk; on ``backend``). ``period``:
    idle this long between calls, as the node is between observations (on this VM a core
    that idled 30 ms runs the same forward pass about 1.6x slower than one kept busy, so
    back-to-back timing flatters the bare model)."""
    import numpy as np
    import torch

    from bc_ros.core.policy.backend import make_backend
    from bc_ros.core.policy.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    policy, _ = load_checkpoint(path)
    policy.eval().set_backend(make_backend(backend, policy, threads=1))
    frames = np.random.default_rng(0).integers(0, 256, (3, SIZE[1], SIZE[0], 3), dtype=np.uint8)
    state = np.zeros(8, dtype=np.float32)
    generator = torch.Generator().manual_seed(0)
    times = []
    for i in range(n + 5):
        if period:
            time.sleep(period)
        policy.reset()
        t0 = time.perf_counter()
        policy.select_action(frames, state, generator=generator)
        if i >= 5:
            times.append((time.perf_counter() - t0) * 1e3)
    return times


# ---- the policy node child -------------------------------------------------------------------
def timed_node_class():
    """PolicyNode that notes, per observation stamp, when (perf_counter: CLOCK_MONOTONIC, the
    same clock in every process) its first and last sample arrived, when the observation was
    queued for inference, when the inference thread picked it up, and when the command was
    being published and was published. The costs of the marks are a few microseconds."""
    import queue

    from bc_ros.nodes.policy_node import PolicyNode

    def ns(stamp):
        return stamp.sec * 1_000_000_000 + stamp.nanosec

    class TimedQueue(queue.Queue):
        marks: dict

        def get(self, *args, **kwargs):
            job = super().get(*args, **kwargs)
            if job is not None:
                self.marks.setdefault(ns(job.stamp), {})["picked"] = time.perf_counter()
            return job

    class TimedPolicyNode(PolicyNode):
        def __init__(self, *args, **kwargs):
            self.marks = {}
            super().__init__(*args, **kwargs)
            # the inference thread is already waiting on this queue: change its class in place
            # (the first job, a warm-up one, goes unmarked)
            self.inference.jobs.marks = self.marks
            self.inference.jobs.__class__ = TimedQueue

        def _add(self, stream, stamp, value):
            mark = self.marks.setdefault(ns(stamp), {})
            mark.setdefault("first_sample", time.perf_counter())
            mark["last_sample"] = time.perf_counter()
            super()._add(stream, stamp, value)

        def _submit(self, t, stamp, obs):
            self.marks.setdefault(ns(stamp), {})["submitted"] = time.perf_counter()
            super()._submit(t, stamp, obs)

        def _publish(self, command, t, stamp, policy=False, score=None, **kwargs):
            mark = self.marks.setdefault(ns(stamp), {})
            mark["publishing"] = time.perf_counter()
            super()._publish(command, t, stamp, policy, score, **kwargs)
            mark["published"] = time.perf_counter()

    return TimedPolicyNode


def run_node(checkpoint: str, mode: str, rate: float, seconds: float, executor: str,
             backend: str, cpu_dma_latency: int) -> None:
    """As ``main()`` spins it (spin_node's loop) until SIGINT or ``seconds``; prints its
    diagnostics. ``executor`` ``global``: ``rclpy.spin_once(node)`` as bc_ros did before,
    adding and removing the node around every callback."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from bc_ros.nodes.runtime import make_executor

    # The bare forward pass in the same process on the same core, before and after serving
    # (other load on the machine comes and goes).
    bare = forward_pass(checkpoint, backend=backend) if mode == "lockstep" else []
    paced = forward_pass(checkpoint, period=1 / 30, backend=backend) if mode == "lockstep" else []
    rclpy.init()
    node = timed_node_class()({"checkpoint": checkpoint, "mode": mode, "rate_hz": rate,
                       "obs_timeout": 0.2, "low": LOW, "high": HIGH, "torch_threads": 1,
                       "backend": backend, "cpu_dma_latency_us": cpu_dma_latency})
    end = time.monotonic() + seconds
    ex = None
    if executor != "global":
        ex = make_executor(kind=executor)
        ex.add_node(node)
    try:
        while time.monotonic() < end and rclpy.ok():
            if ex is None:
                rclpy.spin_once(node, timeout_sec=0.1)
            else:
                ex.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:  # noqa: BLE001 - SIGINT shut the context down under a callback (spin_node)
        if rclpy.ok():
            raise
    finally:
        if ex is not None:
            ex.shutdown()
        diag = node.diagnostics()
        node.close()
        if bare:
            bare += forward_pass(checkpoint, backend=backend)
            paced += forward_pass(checkpoint, period=1 / 30, backend=backend)
        print(json.dumps(dict(diag, forward_pass=percentiles(bare) if bare else None,
                              forward_pass_paced=percentiles(paced) if paced else None,
                              marks={str(k): v for k, v in node.marks.items()}
                              if mode == "lockstep" else {})),
              flush=True)
        rclpy.try_shutdown()


def spawn_node(checkpoint: str, mode: str, rate: float, seconds: float, executor: str,
               backend: str, cpu_dma_latency: int):
    me = [sys.executable, os.path.abspath(__file__)]
    return subprocess.Popen(me + ["--role", "node", "--checkpoint", checkpoint, "--mode", mode,
                                  "--rate", str(rate), "--seconds", str(seconds),
                                  "--executor", executor, "--backend", backend,
                                  "--cpu-dma-latency", str(cpu_dma_latency)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"),
                            preexec_fn=lambda: os.sched_setaffinity(0, {0}))


def node_result(child) -> dict:
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"policy node exited {child.returncode}: {err[-2000:]}")
    return json.loads(lines[-1])


# ---- this process: camera + odometry publisher, command listener -----------------------------
class Rig:
    def __init__(self, executor: str, backend: str, cpu_dma_latency: int):
        import numpy as np
        import rclpy
        from rclpy.node import Node

        from bc_ros.nodes import conversions as conv
        from bc_ros.nodes.runtime import COMMAND_QOS, SENSOR_QOS, make_executor

        self.conv = conv
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node("bench_policy_client", context=self.context)
        self.cams = {c: self.node.create_publisher(conv.Image, f"camera/{c}/image_raw",
                                                   SENSOR_QOS) for c in CAMERAS}
        self.odom = self.node.create_publisher(conv.Odometry, "odom", SENSOR_QOS)
        self.received = []     # (stamp ns, receive perf_counter)
        self.sub = self.node.create_subscription(conv.TwistStamped, "policy/cmd", self._on_cmd,
                                                 COMMAND_QOS)
        self.executor_kind, self.backend = executor, backend
        self.cpu_dma_latency = cpu_dma_latency
        self.executor = make_executor(self.context, "single" if executor == "global" else executor)
        self.executor.add_node(self.node)
        rng = np.random.default_rng(1)
        self.frames = [rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
                       for _ in range(4)]
        self.k = 0

    def _on_cmd(self, msg):
        s = msg.header.stamp
        self.received.append((s.sec * 1_000_000_000 + s.nanosec, time.perf_counter()))

    def _matched(self) -> bool:
        return bool(all(p.get_subscription_count() for p in self.cams.values())
                    and self.odom.get_subscription_count() and self.sub.get_publisher_count())

    def wait_for_node(self, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while not self._matched():
            if time.monotonic() > end:
                raise RuntimeError("the policy node did not appear within 60 s")
            self.executor.spin_once(timeout_sec=0.05)

    def wait_node_gone(self, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while (self.sub.get_publisher_count() or self.odom.get_subscription_count()) \
                and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)

    def publish_images(self, stamp) -> None:
        frame = self.frames[self.k % 4]
        self.k += 1
        for c, pub in self.cams.items():
            pub.publish(self.conv.image_to_msg(frame, stamp, f"camera_{c}"))

    def publish_odom(self, stamp) -> None:
        odom = {"position": [0.01 * self.k, 0, 1], "orientation_xyzw": [0, 0, 0, 1],
                "linear_body": [1, 0, 0], "angular_body": [0, 0, 0]}
        self.odom.publish(self.conv.odometry_to_msg(odom, stamp))

    def spin_until(self, deadline: float) -> None:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            self.executor.spin_once(timeout_sec=min(left, 0.01))

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def latency(rig: Rig, checkpoint: str, n: int, warmup: int = 10,
            plan_every: int = 1) -> dict:
    """End-to-end latency over ``n`` observations; with ``plan_every`` k > 1 (a checkpoint
    that executes k actions of each chunk) also over the ticks that plan a chunk (every k-th,
    counted from the node's first tick), which are the slow ones."""
    child = spawn_node(checkpoint, "lockstep", 30.0, seconds=120.0, executor=rig.executor_kind,
                       backend=rig.backend, cpu_dma_latency=rig.cpu_dma_latency)
    try:
        rig.wait_for_node()
        lat, lost, rig_marks, planning = [], 0, {}, []
        for i in range(warmup + n):
            rig.received.clear()
            now = rig.node.get_clock().now()
            stamp_ns = now.nanoseconds
            start = time.perf_counter()
            rig.publish_images(now.to_msg())
            rig.publish_odom(now.to_msg())
            published = time.perf_counter()
            deadline = start + 1.0
            while time.perf_counter() < deadline and not any(
                    s == stamp_ns for s, _ in rig.received):
                rig.executor.spin_once(timeout_sec=0.005)
            got = [r for s, r in rig.received if s == stamp_ns]
            if i >= warmup:
                if got:
                    lat.append((got[0] - start) * 1e3)
                    if i % plan_every == 0:
                        planning.append(lat[-1])
                    rig_marks[stamp_ns] = {"start": start, "sent": published,
                                           "received": got[0]}
                else:
                    lost += 1
            rig.spin_until(start + 1 / 30)   # at most 30 observations per second
        result = percentiles(lat)
        diag = node_result(child)
        result.update(lost=lost, node_inference_ms_mean=diag["inference_ms_mean"],
                      node_inference_ms_p99=diag["inference_ms_p99"],
                      breakdown=breakdown(rig_marks, diag["marks"]),
                      cpu_dma_latency=diag["cpu_dma_latency"])
        if plan_every > 1:
            result["planning_ticks"] = percentiles(planning)
        return result, diag["forward_pass"], diag["forward_pass_paced"]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
        rig.wait_node_gone()


STAGES = (  # (name, from mark, to mark): the image->command path, in order
    ("publish 3 images + odometry (client)", "start", "sent"),
    ("to the node's first sample callback", "start", "first_sample"),
    ("to its last sample callback", "start", "last_sample"),
    ("alignment, queued for inference", "last_sample", "submitted"),
    ("inference thread wakes", "submitted", "picked"),
    ("PolicyRunner.act", "picked", "publishing"),
    ("publish the command", "publishing", "published"),
    ("command reaches the client", "published", "received"),
)


def breakdown(rig_marks: dict, node_marks: dict) -> dict:
    """Median and p99 of each stage of the image->command path (ms), over the observations
    both sides marked."""
    stages = {name: [] for name, _, _ in STAGES}
    for stamp, rig in rig_marks.items():
        marks = dict(node_marks.get(str(stamp), {}), **rig)
        for name, a, b in STAGES:
            if a in marks and b in marks:
                stages[name].append((marks[b] - marks[a]) * 1e3)
    return {name: percentiles(v) for name, v in stages.items() if v}


def control_rate(rig: Rig, checkpoint: str, rate: float, seconds: float,
                 warmup: float = 3.0) -> dict:
    child = spawn_node(checkpoint, "realtime", rate, seconds=warmup + seconds + 25.0,
                       executor=rig.executor_kind, backend=rig.backend,
                       cpu_dma_latency=rig.cpu_dma_latency)
    rig.wait_for_node()
    rig.received.clear()
    t0 = time.perf_counter()
    next_cam = next_odom = t0
    end = t0 + warmup + seconds
    while time.perf_counter() < end:
        now = time.perf_counter()
        stamp = rig.node.get_clock().now().to_msg()
        if now >= next_cam:
            rig.publish_images(stamp)
            next_cam += 1 / 30
        if now >= next_odom:
            rig.publish_odom(stamp)
            next_odom += 1 / 100
        rig.spin_until(min(next_cam, next_odom))
    window = [r for _, r in rig.received if r >= t0 + warmup]
    diag = node_result(child)
    rig.wait_node_gone()
    return {"received_hz": round(len(window) / seconds, 2),
            "node_rate_hz": diag["rate_hz"], "node_command_rate_hz": diag["command_rate_hz"],
            "ticks_skipped": diag["ticks_skipped"],
            "ticks_over_budget": diag["ticks_over_budget"],
            "stop_commands": diag["stop_commands"], "inferences": diag["inferences"],
            "inference_ms_mean": diag["inference_ms_mean"],
            "inference_ms_p99": diag["inference_ms_p99"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", help="comma-separated (default: every head)")
    parser.add_argument("--n", type=int, default=150, help="observations per latency run")
    parser.add_argument("--seconds", type=float, default=8.0, help="window of each rate run")
    parser.add_argument("--json")
    parser.add_argument("--executor", default="events", choices=["events", "single", "global"],
                        help="how the node (and this listener) spin: events = bc_ros's default "
                             "(rclpy's EventsExecutor), single = SingleThreadedExecutor, global "
                             "= rclpy.spin_once(node), as bc_ros spun before")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnxruntime"],
                        help="policy_node's backend parameter (the bare forward pass runs on "
                             "the same one)")
    parser.add_argument("--cpu-dma-latency", type=int, default=-1, metavar="US",
                        help="policy_node's cpu_dma_latency_us (-1: untouched; 0: the CPUs stay "
                             "out of idle states while the node runs; needs root)")
    parser.add_argument("--horizon", type=int, default=HORIZON,
                        help="actions per chunk (1 executed per observation): the AR head "
                             "draws horizon x 4 tokens one after another")
    parser.add_argument("--activation", choices=["mish", "silu", "relu"],
                        help="the encoder's activation (default: the encoder's default)")
    parser.add_argument("--candidates", type=int, default=1,
                        help="chunk_candidates: coherent chunks drawn K at a time (1: off)")
    parser.add_argument("--preset", help="a training preset (bc-ros train --preset): each "
                        "head's options, horizon and candidates as that recipe trains them "
                        "(still one action executed per chunk: the worst case)")
    parser.add_argument("--role", choices=["node"], help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", str(20 + os.getpid() % 30))
    if args.role == "node":
        run_node(args.checkpoint, args.mode, args.rate, args.seconds, args.executor,
                 args.backend, args.cpu_dma_latency)
        return 0

    from bc_ros.core.policy.heads import HEADS

    heads = args.heads.split(",") if args.heads else sorted(HEADS)
    tmp = tempfile.mkdtemp(prefix="bench_policy_")
    os.sched_setaffinity(0, {1})
    ckpts = {}
    recipes = {}
    for head in heads:
        ckpts[head] = os.path.join(tmp, f"{head}.pt")
        horizon, candidates, options = args.horizon, args.candidates, {}
        if args.preset:
            from bc_ros.core.train.presets import load_preset

            preset = load_preset(args.preset, head)
            horizon, options = preset["horizon"], preset["head_options"]
            candidates = preset.get("chunk_candidates", 1)
            executed = preset.get("n_action_steps", N_ACTION_STEPS)
            recipes[head] = {"horizon": horizon, "chunk_candidates": candidates,
                             "n_action_steps": executed, "head_options": options}
        make_checkpoint(head, ckpts[head], args.activation, horizon, candidates, options,
                        recipes.get(head, {}).get("n_action_steps", N_ACTION_STEPS))
    results = {"cameras": f"{len(CAMERAS)} x {SIZE[0]}x{SIZE[1]}", "state_dim": 8,
               "horizon": args.horizon, "n_action_steps": N_ACTION_STEPS, "torch_threads": 1,
               "chunk_candidates": args.candidates,
               "cores": "node pinned to core 0, publisher/listener to core 1",
               "executor": args.executor, "backend": args.backend,
               "cpu_dma_latency_us": args.cpu_dma_latency,
               "activation": args.activation or "default",
               "preset": args.preset or "", "recipes": recipes,
               "load_average_at_start": round(os.getloadavg()[0], 2),
               "latency": [], "rate": []}
    rig = Rig(args.executor, args.backend, args.cpu_dma_latency)
    try:
        for head in heads:
            plan_every = recipes.get(head, {}).get("n_action_steps", N_ACTION_STEPS)
            lat, bare, paced = latency(rig, ckpts[head], args.n, plan_every=plan_every)
            # what the node and the transport add: end to end over the paced bare model
            ratio = round(lat["median_ms"] / paced["median_ms"], 2)
            results["latency"].append({"head": head, "end_to_end": lat, "forward_pass": bare,
                                       "forward_pass_paced_30hz": paced,
                                       "overhead_ratio_median": ratio})
            print(f"{head:10s} image->command median {lat['median_ms']:6.2f} p99 "
                  f"{lat['p99_ms']:6.2f} ms (lost {lat['lost']}/{lat['n'] + lat['lost']}); "
                  f"bare forward back to back {bare['median_ms']:5.2f} / {bare['p99_ms']:5.2f}, "
                  f"at 30 Hz {paced['median_ms']:5.2f} / {paced['p99_ms']:5.2f}; node's "
                  f"inference {lat['node_inference_ms_mean']:5.2f} mean / "
                  f"{lat['node_inference_ms_p99']:5.2f} p99; end to end / paced forward "
                  f"{ratio:.2f}x", flush=True)
            if "planning_ticks" in lat:
                p = lat["planning_ticks"]
                print(f"{'':12s}ticks that plan a chunk (1 in {plan_every}): median "
                      f"{p['median_ms']:6.2f} p99 {p['p99_ms']:6.2f} ms (n {p['n']})", flush=True)
            for name, v in lat["breakdown"].items():
                print(f"{'':12s}{name:40s} {v['median_ms']:6.2f} / {v['p99_ms']:6.2f}",
                      flush=True)
        for head, rate in ((h, r) for h in heads for r in RATES):
            r = control_rate(rig, ckpts[head], rate, args.seconds)
            r.update(head=head, target_hz=rate)
            results["rate"].append(r)
            print(f"{head:10s} target {rate:5.0f} Hz: commands received {r['received_hz']:6.1f}/s, "
                  f"node ticks {r['node_rate_hz']:6.1f} Hz, skipped {r['ticks_skipped']}, over "
                  f"budget {r['ticks_over_budget']}, inference p99 {r['inference_ms_p99']} ms",
                  flush=True)
    finally:
        rig.close()
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_average_at_end"] = round(os.getloadavg()[0], 2)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
