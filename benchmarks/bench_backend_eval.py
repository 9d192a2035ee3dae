"""Closed-loop success of trained checkpoints on both policy backends (torch, onnxruntime).

    python benchmarks/bench_backend_eval.py CKPT [CKPT ...] [--episodes 20] [--json F]

Each checkpoint runs ``bc-ros eval``'s loop (``core/train/evaluate.py``, held-out seeds, one
thread) twice: eager PyTorch, then the onnxruntime backend the policy node offers. Prints the
successes, how many episodes ended the same way with the same length on both, and the wall time
of each; then, open loop, the largest difference between the two backends' actions on the same
observations (every step of the first ``--open-loop`` seeds, flown by the torch policy). The
backends draw the same noise from the same generator, so that difference is float rounding, and
closed-loop episodes part only where a task amplifies it (a tree passed on the other side).
"""

from __future__ import annotations

import argparse
import json
import os
import time


def run(path: str, backend: str, episodes: int) -> dict:
    import torch

    from bc_ros.core.policy.backend import make_backend
    from bc_ros.core.policy.checkpoint import load_checkpoint
    from bc_ros.core.sim.base import eval_seeds
    from bc_ros.core.train.evaluate import evaluate

    torch.manual_seed(0)
    policy, payload = load_checkpoint(path)
    started = time.perf_counter()
    policy.set_backend(make_backend(backend, policy, threads=1))
    load_s = time.perf_counter() - started
    spec = payload["spec"]
    result = evaluate(policy, spec["robot"], spec["task"], seeds=eval_seeds(episodes))
    return {"backend": backend, "successes": result["successes"], "episodes": episodes,
            "wall_seconds": round(result["wall_seconds"], 1), "backend_load_s": round(load_s, 2),
            "records": [(r["seed"], r["success"], r["steps"]) for r in result["records"]],
            "head": policy.config.head, "task": f"{spec['robot']}/{spec['task']}"}


def open_loop(path: str, seeds: int) -> float:
    """max |torch - onnxruntime| over every action of ``seeds`` held-out episodes."""
    import numpy as np
    import torch

    from bc_ros.core.policy.backend import make_backend
    from bc_ros.core.policy.checkpoint import load_checkpoint
    from bc_ros.core.policy.runner import PolicyRunner, RunnerConfig
    from bc_ros.core.sim import make_env
    from bc_ros.core.sim.base import eval_seeds
    from bc_ros.core.train.evaluate import recorded_state

    eager, payload = load_checkpoint(path)
    fast, _ = load_checkpoint(path)
    fast.set_backend(make_backend("onnxruntime", fast, threads=1))
    robot, task = payload["spec"]["robot"], payload["spec"]["task"]
    env = make_env(robot, task, image_size=tuple(eager.config.image_size))
    limits = RunnerConfig(low=list(env.action_low), high=list(env.action_high))
    runners = [PolicyRunner(p, limits) for p in (eager, fast)]
    worst = 0.0
    try:
        for seed in eval_seeds(seeds):
            obs = env.reset(seed)
            for r in runners:
                r.generator = torch.Generator().manual_seed(seed)
                r.reset()
            done = False
            while not done:
                o = {"images": obs["images"], "state": recorded_state(env, robot)}
                a, b = (r.act(o) for r in runners)
                worst = max(worst, float(np.abs(a.raw - b.raw).max()))
                obs, _, terminated, truncated, _ = env.step(a.command)
                done = terminated or truncated
    finally:
        env.close()
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--open-loop", type=int, default=2, metavar="SEEDS",
                        help="episodes of the open-loop comparison")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    rows = []
    for path in args.checkpoints:
        eager, fast = (run(path, b, args.episodes) for b in ("torch", "onnxruntime"))
        same = sum(a == b for a, b in zip(eager["records"], fast["records"]))
        diff = open_loop(path, args.open_loop)
        row = {"checkpoint": path, "head": eager["head"], "task": eager["task"],
               "torch": eager, "onnxruntime": fast, "same_outcome_and_length": same,
               "open_loop_max_abs_diff": diff}
        rows.append(row)
        print(f"{os.path.basename(os.path.dirname(path)) or path:24s} {eager['head']:9s} "
              f"{eager['task']:18s} torch {eager['successes']:3d}/{args.episodes} in "
              f"{eager['wall_seconds']:6.1f} s, onnxruntime {fast['successes']:3d}/{args.episodes}"
              f" in {fast['wall_seconds']:6.1f} s (export {fast['backend_load_s']:.2f} s); "
              f"{same}/{args.episodes} episodes identical in outcome and length; open loop max "
              f"|diff| {diff:.1e}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"episodes": args.episodes, "threads": 1, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
