"""What coherent chunks cost at run time: one control tick that predicts a chunk, with 1 and with
K candidates, per head, side by side in one run.

    python benchmarks/bench_chunk_candidates.py [--candidates 8] [--backend onnxruntime]
                                                [--json docs/figures/chunk_candidates.json]

The policy has the reach_around recipe's shapes (3 cameras at 96x96, a joint state of 9, 3
actions, 2 frames of history, chunks of 16) with random weights and a fitted normalizer. Every
tick gets a fresh observation and predicts a chunk (n_action_steps 1, the worst case; the recipe
predicts one every 2nd tick). Per head and K: median and p99 of the tick's wall time and of the
calling thread's CPU time (one intra-op thread, so the CPU time leaves out the time other
processes held the core: the figure to compare on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from figures import write_json
from untrained import fit_as_trained

CAMERAS = ["left", "center", "right"]
STATE_DIM, ACTIONS = 9, ["vx", "vy", "vz"]


def make_policy(head: str, candidates: int, backend: str):
    from bc_ros.core.policy.backend import make_backend
    from bc_ros.core.policy.policy import Policy, PolicyConfig

    torch.manual_seed(0)
    options = {"denoiser": "unet"} if head == "diffusion" else {}
    policy = Policy(PolicyConfig(head=head, head_options=options, cameras=CAMERAS,
                                 image_size=(96, 96), state_dim=STATE_DIM, action_names=ACTIONS,
                                 n_obs_steps=2, horizon=16, n_action_steps=1,
                                 chunk_candidates=candidates))
    fit_as_trained(policy)
    policy.set_backend(make_backend(backend, policy, threads=1))
    return policy


def ticks_ms(policy, calls: int, warmup: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (8, 3, 96, 96, 3), dtype=np.uint8)
    states = rng.normal(size=(8, STATE_DIM)).astype(np.float32)
    g = torch.Generator().manual_seed(0)
    out = np.empty((calls, 2))
    for i in range(warmup + calls):
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        policy.select_action(frames[i % 8], states[i % 8], generator=g)
        if i >= warmup:
            out[i - warmup] = time.perf_counter_ns() - t0, time.thread_time_ns() - c0
    return out / 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heads", nargs="+", default=["gaussian", "mog", "ar", "cvae",
                                                        "diffusion"])
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--backend", default="onnxruntime", choices=["torch", "onnxruntime"])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    print(f"{'head':10s} {'K':>3s} {'wall median':>12s} {'wall p99':>9s} {'cpu median':>11s} "
          f"{'cpu p99':>8s}  (ms per tick that predicts a chunk)")
    for head in args.heads:
        for k in (1, args.candidates):
            ms = ticks_ms(make_policy(head, k, args.backend), args.calls, args.warmup)
            row = {"head": head, "candidates": k,
                   "wall_median_ms": round(float(np.median(ms[:, 0])), 3),
                   "wall_p99_ms": round(float(np.percentile(ms[:, 0], 99)), 3),
                   "cpu_median_ms": round(float(np.median(ms[:, 1])), 3),
                   "cpu_p99_ms": round(float(np.percentile(ms[:, 1], 99)), 3)}
            rows.append(row)
            print(f"{head:10s} {k:3d} {row['wall_median_ms']:12.2f} {row['wall_p99_ms']:9.2f} "
                  f"{row['cpu_median_ms']:11.2f} {row['cpu_p99_ms']:8.2f}", flush=True)
    write_json(args.json, {"backend": args.backend, "threads": 1, "calls": args.calls,
                           "load_average": round(os.getloadavg()[0], 2), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
