"""DAgger on drone trail against BC with the same number of expert labels.

    ROS_DOMAIN_ID=61 python benchmarks/bench_dagger.py --demos data/trail_clean --out runs/dagger_trail

1. ``bc-ros dagger`` (beta mixing, exponential schedule 1.0 * 0.5^r) from BC on the first
   ``--start-demos`` demonstrations, ``--rounds`` rounds of ``--episodes-per-round`` episodes
   (skipped when ``<out>/dagger.json`` exists: the run is reused);
2. after every round, BC trained the same way on the first k demonstrations of the same store,
   k chosen so their ticks (expert labels) reach the DAgger run's labels so far;
3. both evaluated on the same held-out seeds. Writes ``docs/figures/dagger_trail.json``.
"""

from __future__ import annotations

import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demos", default=os.path.join(ROOT, "data", "trail_clean"))
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "dagger_trail"))
    parser.add_argument("--start-demos", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--episodes-per-round", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--json", default=os.path.join(ROOT, "docs", "figures",
                                                       "dagger_trail.json"))
    args = parser.parse_args()

    import torch

    from bc_ros.core.data.store import EpisodeStore
    from bc_ros.core.train.experiments import run_experiment
    from bc_ros.dagger_session import DaggerRunConfig, run_dagger

    torch.set_num_threads(1)
    train = {"head": "gaussian", "cameras": ["center"], "use_state": False,
             "val_fraction": 0.0, "steps": args.steps, "threads": 1, "val_every": 500,
             "save_every": 500}
    summary_path = os.path.join(args.out, "dagger.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            dagger = json.load(f)
    else:
        dagger = run_dagger(DaggerRunConfig(
            robot="drone", task="trail", demos=args.demos, out=args.out, rounds=args.rounds,
            episodes_per_round=args.episodes_per_round, beta_schedule="exponential",
            beta_start=1.0, beta_decay=0.5, eval_episodes=args.eval_episodes,
            train={**train, "episodes": list(range(args.start_demos))}))
    demos = EpisodeStore(args.demos).episodes
    rows, total = [], sum(e["length"] for e in demos[:args.start_demos])
    bcs = []
    for m in dagger["rounds"]:
        if m["round"] > 0:
            total += m["expert_labels_added"]
        rows.append({"method": "BC (round 0)" if m["round"] == 0 else f"DAgger round {m['round']}",
                     "beta": m["beta"], "success_rate": m["success_rate"],
                     "labels_total": total, "wall_time_s": m["wall_time_s"]})
        if m["round"] == 0:
            continue
        # BC on the first k demonstrations, k the fewest whose ticks reach this round's labels
        k, ticks = 0, 0
        while ticks < total and k < len(demos):
            ticks += demos[k]["length"]
            k += 1
        bc = run_experiment({"name": f"bc_{k}_demos", "label": f"BC, {k} demos",
                             "robot": "drone", "task": "trail", "dataset": args.demos,
                             "train": {**train, "episodes": list(range(k))}},
                            args.out, episodes=args.eval_episodes)
        bcs.append({k2: v for k2, v in bc.items() if k2 != "records"})
        rows.append({"method": f"BC on {k} demos", "beta": None,
                     "success_rate": bc["success_rate"], "labels_total": ticks,
                     "wall_time_s": bc["train_seconds"]})
    print("| method | beta | expert labels | held-out success |")
    print("|---|---|---|---|")
    for r in rows:
        beta = "-" if r["beta"] is None else f"{r['beta']:.2f}"
        rate = "-" if r["success_rate"] is None else f"{100 * r['success_rate']:.0f} %"
        print(f"| {r['method']} | {beta} | {r['labels_total']} | {rate} |")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"rows": rows, "eval_episodes": args.eval_episodes,
                   "bc_equal_labels": bcs,
                   "dagger": dagger}, f, indent=1)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
