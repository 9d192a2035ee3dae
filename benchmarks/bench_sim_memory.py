"""Memory a sim keeps per episode: resident set growth per ``reset``, for every robot and task.

    python benchmarks/bench_sim_memory.py [--resets 100] [--steps 20] [--json F]

Each robot and task runs in a child process of its own (so one sim's allocations do not hide
another's): ``--warmup`` episodes first (allocator pools, pybullet's first loads), then
``--resets`` episodes of ``--steps`` expert steps each; the figure is the growth of the child's
resident set over those episodes divided by their number, and that growth scaled to an hour of
the sim node's episodes at ``--episodes-per-hour``. A sim that keeps memory per episode
eventually takes the robot's computer down in a long DAgger session or soak
(``bench_soak.py``): the goal is under 0.1 MB per episode.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from figures import write_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def measure(robot: str, task: str, warmup: int, resets: int, steps: int) -> dict:
    """Run in the child: RSS before and after ``resets`` episodes."""
    from bc_ros.core.sim import make_env, train_seeds

    seeds = train_seeds(warmup + resets)
    with make_env(robot, task) as env:
        def episode(seed):
            env.reset(seed)
            for _ in range(steps):
                _, _, term, trunc, _ = env.step(env.expert_action())
                if term or trunc:
                    break

        for seed in seeds[:warmup]:
            episode(seed)
        before, t0 = rss_mb(), time.perf_counter()
        for seed in seeds[warmup:]:
            episode(seed)
        after, seconds = rss_mb(), time.perf_counter() - t0
    return {"robot": robot, "task": task, "resets": resets, "steps": steps,
            "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1),
            "mb_per_reset": round((after - before) / resets, 4),
            "seconds_per_episode": round(seconds / resets, 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resets", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=20, help="expert steps per episode")
    p.add_argument("--episodes-per-hour", type=float, default=120.0,
                   help="the sim node's episodes an hour, for the per-hour figure (the soak "
                        "runs about 130)")
    p.add_argument("--only", help="ROBOT/TASK: just this one")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--json", default=os.path.join(ROOT, "docs", "figures", "sim_memory.json"))
    args = p.parse_args(argv)
    if args.child:
        robot, task = args.child.split("/")
        print(json.dumps(measure(robot, task, args.warmup, args.resets, args.steps)))
        return 0

    from bc_ros.core.sim import ROBOTS

    pairs = ([tuple(args.only.split("/"))] if args.only else
             [(robot, task) for robot, (_, _, tasks) in ROBOTS.items() for task in tasks])
    rows = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    for robot, task in pairs:
        out = subprocess.run([sys.executable, __file__, "--child", f"{robot}/{task}",
                              "--warmup", str(args.warmup), "--resets", str(args.resets),
                              "--steps", str(args.steps)], env=env, check=True,
                             capture_output=True, text=True).stdout
        # pybullet's C code prints warnings to stdout with no line ends: the last JSON object
        row = json.loads(out[out.rindex('{"robot"'):].strip())
        row["mb_per_hour"] = round(row["mb_per_reset"] * args.episodes_per_hour, 1)
        rows.append(row)
        print(f"{robot:6s} {task:13s} {row['mb_per_reset']:8.3f} MB per episode "
              f"({row['mb_per_hour']:7.1f} MB/h at {args.episodes_per_hour:g} episodes/h; "
              f"RSS {row['rss_after_mb']:.0f} MB)", flush=True)
    write_json(args.json, {"command": " ".join(["python", *sys.argv]),
                           "episodes_per_hour": args.episodes_per_hour, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
