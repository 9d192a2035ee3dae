"""Goal-conditioned behavioural cloning on the arm's reach_goal (issue 18's figures).

    python benchmarks/bench_goal.py                   # 100 play episodes, 500 goal demos
    python benchmarks/bench_goal.py --quick           # a smoke run of every path (minutes)

Data, recorded over ROS 2 with ``bc-ros record`` (sim node, scripted expert, recorder) when
missing:
    play    the arm moving between random points of the workspace, no goal (20 s episodes);
            the recorder stores where the hand is on ``achieved_goal``
    demos   reach_goal demonstrations: the expert goes to the episode's goal, which the
            recorder stores from ``goal``

Policies (the ``reach_goal`` preset, ``bc-ros train --preset reach_goal``):
    play, relabeled     goal = where the hand got to within the next 3 s of play (hindsight)
    demos, goal         goal = the recorded goal of each demonstration
    demos, no goal      the same demonstrations without the goal: where to go is not in the
                        images (the goal is drawn nowhere the cameras see)

Each is evaluated on ``--episodes`` held-out seeds of reach_goal, its goals never seen in
training, through ``bc-ros eval``'s code path (the goal passed as the policy node gets it from
its goal topic). Reported: success (grasp point within 3 cm of the goal) with its 95 % interval
and the mean final distance. JSON: docs/figures/goal_conditioned.json. Finished runs and
evaluations are reused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from bench_learning import cached_eval, record, trained
from figures import write_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (label, dataset, TrainConfig fields over the preset)
POLICIES = [("play, relabeled in hindsight", "play", {}),
            ("demos, recorded goal", "demos", {"goal": "recorded"}),
            ("demos, no goal", "demos", {"goal": ""})]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--play", type=int, default=100, help="play episodes (20 s each)")
    parser.add_argument("--demos", type=int, default=500, help="goal-labelled demonstrations")
    parser.add_argument("--head", default="gaussian")
    parser.add_argument("--steps", type=int, help="override the preset's steps")
    parser.add_argument("--episodes", type=int, default=100, help="held-out goals")
    parser.add_argument("--image-size", default="64x64", help="WxH of the recorded cameras")
    parser.add_argument("--data", default=os.path.join(ROOT, "data"))
    parser.add_argument("--runs", default=os.path.join(ROOT, "runs"))
    parser.add_argument("--json", default=os.path.join(ROOT, "docs", "figures",
                                                      "goal_conditioned.json"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: every path, minutes")
    args = parser.parse_args()
    if args.quick:
        args.play, args.demos, args.steps, args.episodes = 3, 6, 20, 2

    import torch

    from bc_ros.core.train.config import TrainConfig
    from bc_ros.core.train.presets import load_preset

    torch.set_num_threads(1)
    suffix = f"_{args.image_size}" + ("_quick" if args.quick else "")
    data = {"play": os.path.join(args.data, f"arm_play{suffix}"),
            "demos": os.path.join(args.data, f"reach_goal{suffix}")}
    size = ["--image-size", args.image_size]
    record(data["play"], "arm", "play", args.play, extra=size)
    record(data["demos"], "arm", "reach_goal", args.demos, extra=size)
    results = []
    for label, source, over in POLICIES:
        n = args.play if source == "play" else args.demos
        fields = {**load_preset("reach_goal", args.head), **over,
                  "episodes": list(range(n)), "threads": 1, "progress": False}
        if args.steps:
            fields["steps"] = args.steps
        tag = over.get("goal", "hindsight") or "nogoal"
        name = f"goal_{source}_{tag}_{args.head}{suffix}"
        run = os.path.join(args.runs, name)
        cfg = TrainConfig(dataset=data[source], out=run, **fields)
        t0 = time.perf_counter()
        summary = trained(name, run, cfg)
        r = cached_eval(os.path.join(run, f"eval{args.episodes}.json"),
                        os.path.join(run, "last.pt"), "arm", "reach_goal", args.episodes)
        r.update(label=label, name=name, head=args.head, data=source, episodes_trained=n,
                 goal=cfg.goal, goal_strategy=cfg.goal_strategy,
                 goal_future_ticks=cfg.goal_future_ticks, train_seconds=summary["seconds"],
                 train_samples_per_s=summary["samples_per_s"], train_steps=summary["steps"],
                 train_samples=summary["train_samples"],
                 wall_seconds=time.perf_counter() - t0)
        results.append(r)
        print(f"{label}: {r['successes']}/{r['episodes']}, mean final distance "
              f"{100 * r['mean_final_distance']:.1f} cm", flush=True)
    write_json(args.json, {"task": "reach_goal", "play_episodes": args.play,
                           "demos": args.demos, "image_size": args.image_size,
                           "command": " ".join(sys.argv), "results": results}, indent=1)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
