"""Scripted-expert success on held-out evaluation seeds, per robot and task.

    python benchmarks/bench_experts.py [--robot drone] [--task trail] [--episodes 100] [--json F]

Prints one line per task: successes / episodes, the 95 % Wilson interval, failure causes, mean
episode length in steps, and wall time per episode. The README quotes its output.
"""

from __future__ import annotations

import argparse
import collections
import math
import time

from bc_ros.core.sim import ROBOTS, eval_seeds, make_env
from bc_ros.core.sim.experts import run_expert_episode

from figures import write_json


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def bench_task(robot: str, task: str, episodes: int, noise_std: float) -> dict:
    env = make_env(robot, task)
    failures = collections.Counter()
    modes = collections.Counter()
    steps, ok = [], 0
    t0 = time.perf_counter()
    try:
        for seed in eval_seeds(episodes):
            info = run_expert_episode(env, seed, noise_std=noise_std)
            ok += bool(info["success"])
            steps.append(info["steps"])
            if not info["success"]:
                failures[info.get("failure") or "unknown"] += 1
            if info.get("mode"):
                modes[info["mode"]] += 1
    finally:
        env.close()
    wall = time.perf_counter() - t0
    lo, hi = wilson(ok, episodes)
    return {"robot": robot, "task": task, "episodes": episodes, "successes": ok,
            "success_rate": ok / episodes, "ci95": [lo, hi], "failures": dict(failures),
            "modes": dict(modes), "mean_steps": sum(steps) / len(steps),
            "seconds_per_episode": wall / episodes, "noise_std": noise_std}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robot", choices=list(ROBOTS), action="append",
                        help="robot(s) to run (default: all)")
    parser.add_argument("--task", action="append", help="task(s) to run (default: all)")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--noise-std", type=float, default=0.0,
                        help="injected noise on the executed command (fraction of half range)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    results = []
    for robot in args.robot or list(ROBOTS):
        for task in ROBOTS[robot][2]:
            if args.task and task not in args.task:
                continue
            r = bench_task(robot, task, args.episodes, args.noise_std)
            results.append(r)
            lo, hi = r["ci95"]
            print(f"{robot:5s} {task:12s} success {r['successes']}/{r['episodes']} "
                  f"({100 * r['success_rate']:.0f} %, 95 % CI {100 * lo:.0f}-{100 * hi:.0f} %) "
                  f"failures {r['failures'] or '-'} modes {r['modes'] or '-'} "
                  f"mean steps {r['mean_steps']:.0f}  {r['seconds_per_episode']:.2f} s/episode",
                  flush=True)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
