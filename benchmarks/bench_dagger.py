"""DAgger on drone trail against BC with the same number of expert labels, per gating.

    ROS_DOMAIN_ID=61 python benchmarks/bench_dagger.py --demos data/trail_clean --out runs/dagger_trail
    ROS_DOMAIN_ID=62 python benchmarks/bench_dagger.py --gating uncertainty
    ROS_DOMAIN_ID=63 python benchmarks/bench_dagger.py --gating human

1. ``bc-ros dagger`` from BC on the first ``--start-demos`` demonstrations, ``--rounds`` rounds of
   ``--episodes-per-round`` episodes (skipped when ``<out>/dagger.json`` exists: the run is
   reused), with the chosen gating:

   - beta (default): beta mixing, exponential schedule 1.0 * 0.5^r, every tick labelled;
   - uncertainty: an ensemble of ``--ensemble-size`` policies, the threshold calibrated after every
     training on the demonstrations round 0 leaves out so that ``--target-request-rate`` of their
     ticks exceed it; the expert hands back after ``--agree-ticks`` agreeing ticks; only the
     expert's ticks are labels;
   - human: sim_node's simulated human (default rule) takes over when the drone strays; only its
     ticks are labels;

2. after every round, BC trained the same way on the first k demonstrations of the same store,
   k chosen so their ticks (expert labels) reach the DAgger run's labels so far;
3. both evaluated on the same held-out seeds. Writes ``docs/figures/dagger_trail.json`` (beta) or
   ``docs/figures/dagger_trail_<gating>.json``.
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
    parser.add_argument("--gating", choices=("beta", "uncertainty", "human"), default="beta")
    parser.add_argument("--demos", default=os.path.join(ROOT, "data", "trail_clean"))
    parser.add_argument("--out", help="run folder (default runs/dagger_trail[_<gating>])")
    parser.add_argument("--start-demos", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--episodes-per-round", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--ensemble-size", type=int, default=3)
    parser.add_argument("--target-request-rate", type=float, default=0.1)
    parser.add_argument("--agree-ticks", type=int, default=5)
    parser.add_argument("--agree-tol", type=float, default=0.1)
    parser.add_argument("--json", help="figures (default docs/figures/dagger_trail[_<gating>]"
                                       ".json)")
    args = parser.parse_args()
    suffix = "" if args.gating == "beta" else f"_{args.gating}"
    out = args.out or os.path.join(ROOT, "runs", f"dagger_trail{suffix}")
    json_path = args.json or os.path.join(ROOT, "docs", "figures", f"dagger_trail{suffix}.json")

    import torch

    from bc_ros.core.data.store import EpisodeStore
    from bc_ros.core.train.experiments import run_experiment
    from bc_ros.sessions.dagger import DaggerRunConfig, run_dagger

    torch.set_num_threads(1)
    train = {"head": "gaussian", "cameras": ["center"], "use_state": False,
             "val_fraction": 0.0, "steps": args.steps, "threads": 1, "val_every": 500,
             "save_every": 500}
    gating = {"beta": dict(beta_schedule="exponential", beta_start=1.0, beta_decay=0.5),
              "uncertainty": dict(ensemble_size=args.ensemble_size,
                                  target_request_rate=args.target_request_rate,
                                  agree_ticks=args.agree_ticks, agree_tol=args.agree_tol),
              "human": {}}[args.gating]
    summary_path = os.path.join(out, "dagger.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            dagger = json.load(f)
    else:
        dagger = run_dagger(DaggerRunConfig(
            robot="drone", task="trail", demos=args.demos, out=out, rounds=args.rounds,
            episodes_per_round=args.episodes_per_round, eval_episodes=args.eval_episodes,
            gating=args.gating, train={**train, "episodes": list(range(args.start_demos))},
            **gating))
    demos = EpisodeStore(args.demos).episodes
    rows, total = [], sum(e["length"] for e in demos[:args.start_demos])
    bcs = []
    for m in dagger["rounds"]:
        if m["round"] > 0:
            total += m["expert_labels_added"]
        rows.append({"method": "BC (round 0)" if m["round"] == 0 else f"DAgger round {m['round']}",
                     "beta": m["beta"], "success_rate": m["success_rate"],
                     "labels_total": total, "wall_time_s": m["wall_time_s"],
                     "autonomous_fraction": m["autonomous_fraction"] if m["round"] else None,
                     "requests_per_episode": m["requests_per_episode"],
                     "interventions_per_episode": m["interventions_per_episode"],
                     "threshold": m.get("threshold"), "request_rate": m.get("request_rate")})
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
                            out, episodes=args.eval_episodes)
        bcs.append({k2: v for k2, v in bc.items() if k2 != "records"})
        rows.append({"method": f"BC on {k} demos", "beta": None,
                     "success_rate": bc["success_rate"], "labels_total": ticks,
                     "wall_time_s": bc["train_seconds"]})
    asked = {"beta": "beta", "uncertainty": "requests/episode (threshold, request rate)",
             "human": "interventions/episode"}[args.gating]
    print(f"gating: {args.gating}")
    print(f"| method | {asked} | expert labels | held-out success | autonomous ticks |")
    print("|---|---|---|---|---|")
    for r in rows:
        rate = "-" if r["success_rate"] is None else f"{100 * r['success_rate']:.0f} %"
        auto = "-" if r.get("autonomous_fraction") is None else \
            f"{100 * r['autonomous_fraction']:.0f} %"
        if r["method"].startswith("BC") or args.gating == "beta":
            how = "-" if r["beta"] is None else f"{r['beta']:.2f}"
        elif args.gating == "uncertainty":
            how = (f"{r['requests_per_episode']:.1f} ({r['threshold']:.3g}, "
                   f"{100 * (r['request_rate'] or 0):.0f} %)")
        else:
            how = f"{r['interventions_per_episode']:.1f}"
        print(f"| {r['method']} | {how} | {r['labels_total']} | {rate} | {auto} |")
    os.makedirs(os.path.dirname(json_path), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump({"gating": args.gating, "rows": rows, "eval_episodes": args.eval_episodes,
                   "bc_equal_labels": bcs, "dagger": dagger}, f, indent=1)
    print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
