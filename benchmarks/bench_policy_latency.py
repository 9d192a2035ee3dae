"""Batch-1 inference latency of every head on this CPU (eager PyTorch, and onnxruntime).

    python benchmarks/bench_policy_latency.py [--calls 300] [--threads 1 2] [--no-onnx]
                                              [--json docs/figures/policy_latency.json]

The policy is the default one a user trains: the default encoder, 3 cameras at 96x96, a state of
8, 4 actions, n_obs_steps=2, head defaults (diffusion: 10 DDIM steps, horizon 16 of which 8 are
executed; the others horizon 1). Per head and intra-op thread count it times, after a warm-up:

  predict_chunk   one chunk from a (1, 2, 3, 3, 96, 96) observation: median and p99
  encode / head   the two parts of predict_chunk (medians), to show where the time goes
  select_action   one control tick with fresh camera frames, amortized over the calls (a
                  diffusion chunk is predicted every 8th tick) and its p99
  onnxruntime     the exported graph (bc_ros.core.policy.export) on the same inputs, with its
                  max |onnxruntime - eager| on the same noise

Goals (the "Policies and training" issue): Gaussian, MoG and AR <= 3 ms, diffusion with 10 DDIM
steps <= 10 ms, per batch-1 predict_chunk. The machine is shared: the load average is recorded
before and after each head; compare medians, and run twice.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np
import torch

from bc_ros.core.policy.heads import HEADS
from bc_ros.core.policy.policy import Policy, PolicyConfig

from untrained import fit_as_trained

GOALS_MS = {"gaussian": 3.0, "mog": 3.0, "ar": 3.0, "diffusion": 10.0}
CAMERAS = ["left", "center", "right"]
STATE_DIM, ACTIONS = 8, ["vx", "vy", "vz", "yaw_rate"]


def make_policy(head: str, activation: str | None = None) -> Policy:
    chunk = dict(horizon=16, n_action_steps=8) if head == "diffusion" else {}
    encoder = {"activation": activation} if activation else {}
    policy = Policy(PolicyConfig(head=head, cameras=CAMERAS, image_size=(96, 96),
                                 state_dim=STATE_DIM, action_names=ACTIONS, n_obs_steps=2,
                                 encoder=encoder, **chunk))
    return fit_as_trained(policy)


def timings_ms(fn, calls: int, warmup: int) -> np.ndarray:
    """(calls, 2): wall-clock and calling-thread CPU milliseconds of each call."""
    for _ in range(warmup):
        fn()
    out = np.empty((calls, 2))
    for i in range(calls):
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        fn()
        out[i] = time.perf_counter_ns() - t0, time.thread_time_ns() - c0
    return out / 1e6


def summary(ms: np.ndarray) -> dict:
    """Wall-clock median and p99, and the median CPU time of the calling thread: with one
    intra-op thread all the work runs there, so the CPU time leaves out the time other
    processes held the core (a contention-robust figure; with 2 threads it misses the second)."""
    return {"median": round(float(np.median(ms[:, 0])), 3),
            "p99": round(float(np.percentile(ms[:, 0], 99)), 3),
            "cpu_median": round(float(np.median(ms[:, 1])), 3)}


def bench_head(head: str, threads: list[int], calls: int, warmup: int, onnx: bool,
               activation: str | None = None) -> list[dict]:
    policy = make_policy(head, activation)
    rng = np.random.default_rng(1)
    images = torch.as_tensor(rng.integers(0, 256, (1, 2, 3, 3, 96, 96), dtype=np.uint8))
    state = torch.as_tensor(rng.normal(size=(1, 2, STATE_DIM)), dtype=torch.float32)
    frames = rng.integers(0, 256, (16, 3, 96, 96, 3), dtype=np.uint8)   # select_action input
    states = rng.normal(size=(16, STATE_DIM)).astype(np.float32)
    exported = None
    if onnx:
        from bc_ros.core.policy.export import (ExportedPolicy, check_parity, example_inputs,
                                               export_onnx)
        path = os.path.join(tempfile.mkdtemp(), f"{head}.onnx")
        exporter = export_onnx(policy, path)
        parity = check_parity(policy, path, seed=0)
        onnx_inputs = example_inputs(policy, 1, seed=1)
    rows = []
    for n in threads:
        torch.set_num_threads(n)
        load_before = os.getloadavg()[0]
        with torch.no_grad():
            cond = policy.encode(images, state)
            chunk = timings_ms(lambda: policy.predict_chunk(images, state), calls, warmup)
            encode = timings_ms(lambda: policy.encode(images, state), calls // 3, warmup)
            sample = timings_ms(lambda: policy.head.sample(cond), calls // 3, warmup)
        policy.reset()
        ticks = iter(range(10 ** 9))

        def tick():
            i = next(ticks) % len(frames)
            policy.select_action(frames[i], states[i])

        select = timings_ms(tick, calls, warmup)
        row = {"head": head, "threads": n, "activation": policy.config.encoder.activation,
               "predict_chunk_ms": summary(chunk),
               "encode_ms_median": summary(encode)["median"],
               "head_ms_median": summary(sample)["median"],
               "select_action_ms": {"amortized": round(float(select[:, 0].mean()), 3),
                                    "p99": round(float(np.percentile(select[:, 0], 99)), 3),
                                    "cpu_amortized": round(float(select[:, 1].mean()), 3)},
               "goal_ms": GOALS_MS.get(head)}
        row["meets_goal"] = (None if row["goal_ms"] is None
                             else row["predict_chunk_ms"]["median"] <= row["goal_ms"])
        if onnx:
            exported = ExportedPolicy(path, threads=n)
            row["onnxruntime_ms"] = summary(timings_ms(lambda: exported(onnx_inputs), calls,
                                                       warmup))
            row["onnx_exporter"], row["onnx_parity_max_abs"] = exporter, parity
        row["load_avg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        rows.append(row)
    return rows


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--heads", nargs="+", default=sorted(HEADS), choices=sorted(HEADS))
    parser.add_argument("--no-onnx", dest="onnx", action="store_false",
                        help="skip the onnxruntime column (and the export)")
    parser.add_argument("--json", default="docs/figures/policy_latency.json")
    parser.add_argument("--activation", choices=["mish", "silu", "relu"],
                        help="the encoder's activation (default: the encoder's default)")
    args = parser.parse_args(argv)

    rows = []
    print(f"{'head':10s} {'thr':>3s} {'chunk med':>9s} {'p99':>7s} {'cpu':>6s} {'encode':>7s} "
          f"{'head':>6s} {'tick amort':>10s} {'tick p99':>8s} {'ort med':>7s} {'ort p99':>7s} "
          f"{'ort cpu':>7s} {'goal':>5s} {'load':>9s}   (ms; cpu: calling thread's CPU time)",
          flush=True)
    for head in args.heads:
        for r in bench_head(head, args.threads, args.calls, args.warmup, args.onnx,
                            args.activation):
            rows.append(r)
            c, s, o = r["predict_chunk_ms"], r["select_action_ms"], r.get("onnxruntime_ms", {})
            goal = "-" if r["goal_ms"] is None else ("ok" if r["meets_goal"] else "MISS")
            nan = float("nan")
            print(f"{head:10s} {r['threads']:3d} {c['median']:9.2f} {c['p99']:7.2f} "
                  f"{c['cpu_median']:6.2f} {r['encode_ms_median']:7.2f} "
                  f"{r['head_ms_median']:6.2f} {s['amortized']:10.2f} {s['p99']:8.2f} "
                  f"{o.get('median', nan):7.2f} {o.get('p99', nan):7.2f} "
                  f"{o.get('cpu_median', nan):7.2f} {goal:>5s} "
                  f"{r['load_avg_1min'][0]:4.2f}-{r['load_avg_1min'][1]:4.2f}", flush=True)
    if args.onnx:
        print("onnx parity (max |onnxruntime - eager|, same noise): " + ", ".join(
            f"{r['head']} {r['onnx_parity_max_abs']:.1e}" for r in rows if r["threads"] ==
            args.threads[0]) + f"; exporter: {rows[0]['onnx_exporter']}")
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        import onnxruntime  # noqa: F401  (version only)
        result = {"command": " ".join(["python"] + sys.argv),
                  "environment": {"cpu": cpu_name(), "cores": os.cpu_count(),
                                  "torch": torch.__version__,
                                  "onnxruntime": onnxruntime.__version__,
                                  "note": "shared machine: see load_avg_1min per row"},
                  "policy": {"encoder": f"default, activation {rows[0]['activation']}",
                             "cameras": 3, "image": [96, 96],
                             "state_dim": STATE_DIM, "action_dim": len(ACTIONS),
                             "n_obs_steps": 2, "diffusion": "10 DDIM steps, horizon 16, "
                             "n_action_steps 8", "others": "horizon 1"},
                  "calls": args.calls, "warmup": args.warmup, "goals_ms": GOALS_MS,
                  "results": rows}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
