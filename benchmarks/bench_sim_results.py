"""The sim results of the policies issue: record expert demos, train, evaluate on 100 held-out seeds.

    python benchmarks/bench_sim_results.py trail      # BC centre camera / + side cameras / + noise
    python benchmarks/bench_sim_results.py trail_few  # the same with 4 demonstrations each
    python benchmarks/bench_sim_results.py bypass     # every head on drone bypass
    python benchmarks/bench_sim_results.py reach      # every head on arm reach_around
    python benchmarks/bench_sim_results.py all
    python benchmarks/bench_sim_results.py trail_few --activation relu   # another encoder

Demonstrations are recorded over ROS 2 (sim node + recorder node, ``bc-ros record``) into
``--data``; runs go to ``--runs``; each suite's figures to ``docs/figures/sim_<suite>.json`` and a
markdown table on stdout. Every stage is reused when it is already there (delete the folder to
redo it), so the script can be stopped and restarted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# One training recipe for every head, so the comparison is about the head.
# The encoder stays Mish here, as when the published figures were measured (the default is ReLU
# now; --activation picks another).
COMMON = {"steps": 2000, "batch_size": 64, "lr": 1e-3, "val_every": 500, "save_every": 500,
          "threads": 1, "random_shift": 4, "encoder": {"activation": "mish"}}
FEW = 4
CHUNKS = {"horizon": 16, "n_action_steps": 8, "n_obs_steps": 2}
HEADS = {"gaussian": {}, "mog": {"num_modes": 5}, "diffusion": {}, "ar": {}, "cvae": {}}


def suites(data: str) -> dict:
    trail = {"robot": "drone", "task": "trail"}
    return {
        "trail": {
            "record": [("trail_clean", "drone", "trail", 40, 0.0),
                       ("trail_noisy", "drone", "trail", 40, 0.3)],
            "experiments": [
                {**trail, "name": "trail_center", "label": "BC, centre camera",
                 "dataset": f"{data}/trail_clean",
                 "train": {**COMMON, "head": "gaussian", "cameras": ["center"],
                           "use_state": False}},
                {**trail, "name": "trail_sidecam", "label": "BC + side cameras",
                 "dataset": f"{data}/trail_clean",
                 "train": {**COMMON, "head": "gaussian", "side_camera": "continuous",
                           "use_state": False}},
                {**trail, "name": "trail_noise", "label": "BC + noise-injected demos",
                 "dataset": f"{data}/trail_noisy",
                 "train": {**COMMON, "head": "gaussian", "cameras": ["center"],
                           "use_state": False}},
            ]},
        # the same three at 4 demonstrations, where plain BC is no longer enough
        "trail_few": {
            "record": [("trail_clean", "drone", "trail", 40, 0.0),
                       ("trail_noisy", "drone", "trail", 40, 0.3)],
            "experiments": [
                {**trail, "name": f"trail{FEW}_{name}", "label": f"{label}, {FEW} demos",
                 "dataset": f"{data}/{ds}",
                 "train": {**COMMON, "steps": 1500, "head": "gaussian", "use_state": False,
                           "episodes": list(range(FEW)), "val_fraction": 0.0, **extra}}
                for name, label, ds, extra in (
                    ("center", "BC, centre camera", "trail_clean", {"cameras": ["center"]}),
                    ("sidecam", "BC + side cameras", "trail_clean",
                     {"side_camera": "continuous"}),
                    ("noise", "BC + noise-injected demos", "trail_noisy",
                     {"cameras": ["center"]}))]},
        "bypass": {
            "record": [("bypass", "drone", "bypass", 100, 0.0)],
            "experiments": [
                # action chunks: 16 predicted, 8 executed, 2 frames of history (Diffusion
                # Policy's recipe). One action per tick lets a multimodal head pick a side
                # afresh at every tick and hit the tree between the two (measured: mog 19/100,
                # gaussian 29/100 at horizon 1, runs/bypass_h1_*)
                {"robot": "drone", "task": "bypass", "name": f"bypass_{h}", "label": h,
                 "dataset": f"{data}/bypass",
                 "train": {**COMMON, "steps": 1500, "head": h, "head_options": o,
                           "cameras": ["center"], "use_state": False, **CHUNKS}}
                for h, o in HEADS.items()]},
        # the three cameras as inputs: the centre camera loses the trunk while passing it
        "bypass3": {
            "record": [("bypass", "drone", "bypass", 100, 0.0)],
            "experiments": [
                {"robot": "drone", "task": "bypass", "name": f"bypass3_{h}",
                 "label": f"{h}, 3 cameras", "dataset": f"{data}/bypass",
                 "train": {**COMMON, "steps": 1000, "head": h, "head_options": o,
                           "use_state": False, **CHUNKS}}
                for h, o in HEADS.items()]},
        "reach": {
            "record": [("reach_around", "arm", "reach_around", 100, 0.0)],
            "experiments": [
                {"robot": "arm", "task": "reach_around", "name": f"reach_{h}", "label": h,
                 "dataset": f"{data}/reach_around",   # 27 ticks an episode: fewer steps
                 "train": {**COMMON, "steps": 1000, "head": h, "head_options": o, **CHUNKS}}
                for h, o in HEADS.items()]},
    }


def record(data: str, name: str, robot: str, task: str, episodes: int, noise: float) -> None:
    path = os.path.join(data, name)
    meta = os.path.join(path, "meta.json")
    if os.path.exists(meta):
        with open(meta) as f:
            have = len(json.load(f).get("episodes", []))
        if have >= episodes:
            return
        episodes -= have
    cmd = [os.path.join(os.path.dirname(sys.executable), "bc-ros"), "record", robot, "--task",
           task, "--episodes", str(episodes), "--out", path, "--rate", "1000", "--noise-std",
           str(noise), "--seed", str(0 if not os.path.exists(meta) else 10_000)]
    print("$", " ".join(cmd), flush=True)
    # a ROS domain of its own: another sim publishing /clock or cameras on the default domain
    # would be recorded too
    env = {**os.environ, "ROS_DOMAIN_ID": os.environ.get("BC_ROS_BENCH_DOMAIN", "73"),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", choices=["trail", "trail_few", "bypass", "bypass3", "reach",
                                          "all"])
    parser.add_argument("--data", default=os.path.join(ROOT, "data"))
    parser.add_argument("--runs", default=os.path.join(ROOT, "runs"))
    parser.add_argument("--episodes", type=int, default=100, help="held-out seeds per policy")
    parser.add_argument("--only", nargs="*", help="run only these experiment names")
    parser.add_argument("--collect", action="store_true",
                        help="only gather the finished runs' eval.json into the figures")
    parser.add_argument("--json-dir", default=os.path.join(ROOT, "docs", "figures"))
    parser.add_argument("--activation", choices=["mish", "silu", "relu"],
                        help="the encoder's activation for every policy of the suite (default: "
                             "the encoder's default); runs and figures get a _<activation> "
                             "suffix")
    args = parser.parse_args()

    import torch

    from bc_ros.core.train.experiments import results_table, run_experiment

    torch.set_num_threads(1)
    names = (["trail", "trail_few", "bypass", "reach"] if args.suite == "all"
             else [args.suite])
    for name in names:
        suite = suites(args.data)[name]
        suffix = f"_{args.activation}" if args.activation else ""
        for spec in suite["experiments"] if args.activation else []:
            spec["train"]["encoder"] = {"activation": args.activation}
            spec["name"] += suffix
            spec["label"] += f" ({args.activation})"
        for rec in suite["record"] if not args.collect else []:
            record(args.data, *rec)
        results = []
        for spec in suite["experiments"]:
            if args.only and spec["name"] not in args.only:
                continue
            if args.collect:
                path = os.path.join(args.runs, spec["name"], "eval.json")
                if os.path.exists(path):
                    with open(path) as f:
                        results.append(json.load(f))
                continue
            t0 = time.perf_counter()
            results.append(run_experiment(spec, args.runs, episodes=args.episodes))
            print(f"{spec['name']}: {results[-1]['successes']}/{results[-1]['episodes']} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
        table = results_table(results)
        print(table)
        os.makedirs(args.json_dir, exist_ok=True)
        out = os.path.join(args.json_dir, f"sim_{name}{suffix}.json")
        slim = [{k: v for k, v in r.items() if k != "records"} for r in results]
        with open(out, "w") as f:
            json.dump({"suite": name, "results": slim, "table": table}, f, indent=1)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
