"""How long a task's recipe (``bc-ros train --preset TASK``) trains each head, with the machine to
itself: the samples/s of a short run of the preset, times the preset's steps.

    python benchmarks/bench_recipe_time.py reach_around [--heads ar mog cvae diffusion]
        [--probe-steps 400] [--threads 2] [--data data] [--runs runs] [--json F]

Each head trains ``--probe-steps`` steps of its preset (``bc-ros train --preset TASK --head H``,
on ``--data/TASK`` plus ``--data/TASK_noise0.3`` when it exists, ``--threads`` torch threads, no
validation) into ``--runs/recipe_time_TASK_H``; its ``train.json`` gives samples/s over the
timed steps, and the recipe's training minutes are ``steps * batch_size / samples_per_s`` (the
validation passes and checkpoints of a full run add about a minute). A finished probe with the
same steps and threads is reused. Goal (issue 15): each head <= 30 min on 2 cores, aim 15.
Run it with nothing else on the machine: the figure is the machine's, not the code's, when
other jobs share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from figures import write_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def probe(task: str, head: str, args) -> dict:
    out = os.path.join(args.runs, f"recipe_time_{task}_{head}")
    summary_path = os.path.join(out, "train.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
        if (summary["steps"] == args.probe_steps
                and summary["config"]["threads"] == args.threads):
            return summary
    data = os.path.join(args.data, task)
    noisy = os.path.join(args.data, f"{task}_noise0.3")
    cmd = [sys.executable, "-m", "bc_ros.cli", "train", "--preset", task, "--head", head,
           "--dataset", data, "--steps", str(args.probe_steps), "--threads",
           str(args.threads), "--val-every", "1000000", "--out", out, "--no-resume",
           "--no-progress"]
    if os.path.isdir(noisy):
        cmd[cmd.index("--steps"):cmd.index("--steps")] = ["--extra-datasets", noisy]
    print(f"{task}/{head}: {args.probe_steps} steps", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    with open(summary_path) as f:
        return json.load(f)


def main(argv=None) -> int:
    from bc_ros.core.train.presets import load_preset

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", help="a preset: reach_around, bypass, to_cube, reach_goal")
    p.add_argument("--heads", nargs="+", default=["ar", "mog", "cvae", "diffusion"])
    p.add_argument("--probe-steps", type=int, default=400)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default=os.path.join(ROOT, "data"))
    p.add_argument("--runs", default=os.path.join(ROOT, "runs"))
    p.add_argument("--json", help="default: docs/figures/recipe_time_TASK.json")
    args = p.parse_args(argv)
    rows = []
    for head in args.heads:
        recipe = load_preset(args.task, head)
        summary = probe(args.task, head, args)
        minutes = recipe["steps"] * recipe["batch_size"] / summary["samples_per_s"] / 60
        rows.append({"head": head, "probe_steps": summary["steps"],
                     "probe_seconds": round(summary["seconds"], 1),
                     "samples_per_s": round(summary["samples_per_s"], 1),
                     "recipe_steps": recipe["steps"], "batch_size": recipe["batch_size"],
                     "recipe_minutes": round(minutes, 1), "precision": summary["precision"]})
        print(f"{args.task}/{head}: {summary['samples_per_s']:.1f} samples/s -> "
              f"{recipe['steps']} steps of {recipe['batch_size']} in {minutes:.1f} min",
              flush=True)
    write_json(args.json or os.path.join(ROOT, "docs", "figures", f"recipe_time_{args.task}.json"),
               {"command": " ".join(["python", *sys.argv]), "task": args.task,
                "threads": args.threads, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    raise SystemExit(main())
