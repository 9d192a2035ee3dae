"""Success against training time, per head, on the bimodal tasks (the learning issue's figures).

    python benchmarks/bench_learning.py reach_around --heads mog diffusion   # 200 demos
    python benchmarks/bench_learning.py bypass --heads cvae --curve-episodes 30
    python benchmarks/bench_learning.py reach_around --quick                  # minutes, a smoke run

Each head trains with the task's preset (``config/train/<task>.yaml``, what ``bc-ros train
--preset <task>`` uses) on the demonstrations in ``--data/<task>`` (recorded over ROS 2 with
``bc-ros record`` when missing), keeping a checkpoint every ``--every`` steps. Every kept
checkpoint is evaluated on ``--curve-episodes`` held-out seeds (the curve), the last on
``--episodes`` (the table), all through ``bc-ros eval``'s code path. Figures go to
``docs/figures/learning_<task>.json`` (and ``.png``); the final results also to
``docs/figures/sim_bypass.json`` / ``sim_reach.json`` in their schema with ``--write-sim``.
Finished runs and evaluations are reused, so the script can be stopped and restarted.
"""

from __future__ import annotations

import dataclasses
import argparse
import glob
import json
import os
import subprocess
import sys
import time

from figures import write_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ROBOT = {"bypass": "drone", "reach_around": "arm", "to_cube": "husky"}
SIM_JSON = {"bypass": "sim_bypass.json", "reach_around": "sim_reach.json",
            "to_cube": "sim_husky.json"}
# Each task's data in its recipe: clean demonstrations, noise-injected ones (the README's tables)
DEMOS = {"bypass": (200, 200), "reach_around": (1000, 500), "to_cube": (150, 100)}


def record(data: str, robot: str, task: str, episodes: int, noise_std: float = 0.0,
           first_seed: int = 0, extra: list[str] = ()) -> None:
    meta = os.path.join(data, "meta.json")
    have = 0
    if os.path.exists(meta):
        with open(meta) as f:
            have = len(json.load(f).get("episodes", []))
    if have >= episodes:
        return
    cmd = [os.path.join(os.path.dirname(sys.executable), "bc-ros"), "record", robot, "--task",
           task, "--episodes", str(episodes - have), "--out", data, "--rate", "1000",
           "--seed", str(first_seed + have), "--noise-std", str(noise_std), *extra]
    print("$", " ".join(cmd), flush=True)
    env = {**os.environ, "ROS_DOMAIN_ID": os.environ.get("BC_ROS_BENCH_DOMAIN", "73"),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)


# Inference options an evaluation may change on a trained checkpoint (PolicyConfig fields)
INFERENCE_OPTIONS = ("n_action_steps", "chunk_candidates", "temporal_ensemble")
# ... and head options that act only at sampling time (MoG: how a chunk's component is chosen)
SAMPLING_OPTIONS = {"mog": ("choice",), "diffusion": ("sample_steps",)}


def cached_eval(path: str, ckpt: str, robot: str, task: str, episodes: int,
                inference: dict | None = None) -> dict:
    """Evaluate ``ckpt`` on the first ``episodes`` held-out seeds, reusing ``path``;
    ``inference`` replaces the checkpoint's inference options (``INFERENCE_OPTIONS``)."""
    inference = inference or {}
    if inference:
        path = path[:-5] + "".join(f".{k}{v}" for k, v in sorted(inference.items())) + ".json"
    if os.path.exists(path):
        with open(path) as f:
            result = json.load(f)
        if result.get("episodes") == episodes and result.get("checkpoint") == ckpt:
            return result
    from bc_ros.core.policy.checkpoint import load_checkpoint
    from bc_ros.core.sim.base import eval_seeds
    from bc_ros.core.train.evaluate import evaluate

    policy, payload = load_checkpoint(ckpt)
    ensemble = inference.get("temporal_ensemble")
    policy.set_inference(inference.get("n_action_steps", 0), inference.get("chunk_candidates", 0))
    if ensemble is not None:
        policy.config.temporal_ensemble = ensemble
    sampling = {k: v for k, v in inference.items() if k not in INFERENCE_OPTIONS}
    allowed = SAMPLING_OPTIONS.get(policy.config.head, ())
    for key, value in sampling.items():
        if key not in allowed:
            raise SystemExit(f"--eval-set {key}: not a sampling option of the "
                             f"{policy.config.head} head (those: {allowed})")
        options = dataclasses.replace(policy.head.options, **{key: value})   # validates
        policy.head.options = options
        if hasattr(policy.head, "sampling_changed"):
            policy.head.sampling_changed()
        policy.config.head_options = {**policy.config.head_options, key: value}
    result = evaluate(policy, robot, task, seeds=eval_seeds(episodes))
    result.pop("records", None)
    extra = payload.get("extra") or {}
    result.update(checkpoint=ckpt, step=extra.get("step"), train_seconds=extra.get("seconds"),
                  head_options=policy.config.head_options,
                  **{name: getattr(policy.config, name) for name in INFERENCE_OPTIONS})
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(path + ".tmp", path)
    return result


def finished_run(run: str, cfg) -> dict | None:
    """The summary of ``run`` when it was trained with ``cfg``, None when it was never finished.
    A finished run with another config is an error, never retrained over: fields added to
    TrainConfig since it ran count as their defaults, and the inference options may differ (the
    checkpoint carries them; --eval-set changes them for an evaluation)."""
    import dataclasses

    path = os.path.join(run, "train.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        summary = json.load(f)
    want = json.loads(json.dumps(dataclasses.asdict(cfg)))
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)
                if f.default is not dataclasses.MISSING}
    had = summary.get("config", {})
    sampling = {o for options in SAMPLING_OPTIONS.values() for o in options}

    def training_part(value, key):      # sampling-only head options do not change a training
        if key == "head_options" and isinstance(value, dict):
            return {k: v for k, v in value.items() if k not in sampling}
        return value

    differ = sorted(k for k, v in want.items() if k not in INFERENCE_OPTIONS
                    and training_part(had.get(k, defaults.get(k)), k) != training_part(v, k))
    if differ:
        raise SystemExit(f"{run} was trained with another config ({', '.join(differ)}): give "
                         f"another --tag, or remove the folder to train it again")
    return summary


def trained(name: str, run: str, cfg) -> dict:
    """The training summary of ``run``: the finished one when it was trained with ``cfg``,
    else trained now."""
    from bc_ros.core.train.trainer import train

    summary = finished_run(run, cfg)
    if summary is None:
        summary = train(cfg)
    print(f"{name}: trained {summary['steps']} steps in {summary['seconds'] / 60:.1f} min "
          f"({summary['samples_per_s']:.0f} samples/s)", flush=True)
    return summary


def check_recipe(out: str, demos: int, noise_demos: int) -> None:
    """A learning JSON holds one data recipe: runs of another one go under another --tag."""
    if not os.path.exists(out):
        return
    with open(out) as f:
        earlier = json.load(f)
    recipe = (earlier.get("demos"), earlier.get("noise_demos") or 0)
    if recipe != (demos, noise_demos):
        raise SystemExit(f"{out} holds runs of another data recipe ({recipe[0]} demos, "
                         f"{recipe[1]} noise-injected): give another --tag to keep both")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(ROBOT))
    parser.add_argument("--heads", nargs="*",
                        default=["mog", "diffusion", "ar", "cvae", "gaussian"])
    parser.add_argument("--demos", type=int,
                        help="clean demonstrations (default: the task's recipe, DEMOS)")
    parser.add_argument("--noise-demos", type=int,
                        help="also train on this many demonstrations recorded with noise "
                             "injected into the executed expert command (DART-style recovery "
                             "data; the clean command is the label), from seeds after --demos'")
    parser.add_argument("--noise-std", type=float, default=0.3,
                        help="that noise, as a fraction of each action's half range")
    parser.add_argument("--steps", type=int, help="override the preset's steps")
    parser.add_argument("--every", type=int, default=1000, help="keep a checkpoint every N")
    parser.add_argument("--episodes", type=int, default=100, help="held-out seeds, last step")
    parser.add_argument("--curve-episodes", type=int, default=50,
                        help="held-out seeds for each point of the curve")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                        help="override a TrainConfig field of every head (repeatable)")
    parser.add_argument("--tag", default="", help="suffix of the run folders and the JSON")
    parser.add_argument("--eval-set", action="append", default=[], metavar="FIELD=JSON",
                        help="evaluate with this inference option instead of the checkpoint's "
                             f"(one of {', '.join(INFERENCE_OPTIONS)}; repeatable)")
    parser.add_argument("--eval-tag", default="",
                        help="suffix of the JSON only (other evaluations of the same runs)")
    parser.add_argument("--data", default=os.path.join(ROOT, "data"))
    parser.add_argument("--runs", default=os.path.join(ROOT, "runs"))
    parser.add_argument("--json-dir", default=os.path.join(ROOT, "docs", "figures"))
    parser.add_argument("--write-sim", action="store_true",
                        help="also write the final results as sim_<task>.json")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 6 demos, 30 steps, 2 evaluation seeds")
    args = parser.parse_args()
    demos, noise_demos = DEMOS[args.task]
    args.demos = demos if args.demos is None else args.demos
    args.noise_demos = noise_demos if args.noise_demos is None else args.noise_demos
    if args.quick:
        args.demos, args.steps, args.every, args.episodes, args.curve_episodes = 6, 30, 15, 2, 2
        args.noise_demos = min(args.noise_demos, 2)

    import torch

    from bc_ros.core.train.config import TrainConfig
    from bc_ros.core.train.presets import load_preset

    torch.set_num_threads(1)
    robot, task = ROBOT[args.task], args.task
    out = os.path.join(args.json_dir, f"learning_{task}{args.tag}{args.eval_tag}.json")
    check_recipe(out, args.demos, args.noise_demos)     # before hours of training
    data = os.path.join(args.data, task)
    record(data, robot, task, args.demos)
    extra = []
    if args.noise_demos:
        noisy = os.path.join(args.data, f"{task}_noise{args.noise_std:g}")
        # seeds after the clean demonstrations' (a store appends from its own count)
        record(noisy, robot, task, args.noise_demos, args.noise_std, first_seed=100_000)
        extra = [noisy]
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    inference = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.eval_set)}
    unknown = set(inference) - set(INFERENCE_OPTIONS) - {
        o for options in SAMPLING_OPTIONS.values() for o in options}
    if unknown:
        parser.error(f"--eval-set {sorted(unknown)}: only {INFERENCE_OPTIONS} and the heads' "
                     f"sampling options {SAMPLING_OPTIONS} can change after training")
    results, curves = [], {}
    for head in args.heads:
        fields = {**load_preset(task, head), **overrides,
                  "episodes": list(range(args.demos)), "extra_datasets": extra,
                  "keep_every": args.every,
                  "threads": 1, "progress": False}
        if args.steps:
            fields["steps"] = args.steps
        name = f"learn_{task}_{head}{args.tag}"
        run = os.path.join(args.runs, name)
        cfg = TrainConfig(dataset=data, out=run, **fields)
        t0 = time.perf_counter()
        summary = trained(name, run, cfg)
        curve = []
        for ckpt in sorted(glob.glob(os.path.join(run, "step_*.pt"))):
            r = cached_eval(ckpt[:-3] + f".eval{args.curve_episodes}.json", ckpt, robot, task,
                            args.curve_episodes, inference)
            curve.append({"step": r["step"], "minutes": r["train_seconds"] / 60,
                          "successes": r["successes"], "episodes": r["episodes"],
                          "success_rate": r["success_rate"]})
            print(f"  step {r['step']}: {r['successes']}/{r['episodes']}", flush=True)
        final = cached_eval(os.path.join(run, f"eval{args.episodes}.json"),
                            os.path.join(run, "last.pt"), robot, task, args.episodes,
                            inference)
        final.update(label=head, name=name, head=head, train_seconds=summary["seconds"],
                     train_samples_per_s=summary["samples_per_s"], train_steps=summary["steps"],
                     train_episodes=len(summary["split"]["train"]),
                     train_samples=summary["train_samples"], demos=args.demos,
                     noise_demos=args.noise_demos,
                     preset=task, wall_seconds=time.perf_counter() - t0)
        results.append(final)
        curves[head] = curve
        print(f"{name}: {final['successes']}/{final['episodes']} "
              f"{final['modes_of_successes']}", flush=True)
    os.makedirs(args.json_dir, exist_ok=True)
    figures = {"task": task, "demos": args.demos, "noise_demos": args.noise_demos,
               "noise_std": args.noise_std if args.noise_demos else 0.0,
               "curves": {}, "results": [], "commands": {}}
    if os.path.exists(out):     # the same recipe's other heads, from earlier runs, stay
        with open(out) as f:
            earlier = json.load(f)
        figures.update(curves=earlier.get("curves", {}),
                       results=[r for r in earlier.get("results", [])
                                if r["head"] not in args.heads],
                       commands=earlier.get("commands", {}))
    figures["curves"].update(curves)
    figures["results"] += results
    figures["commands"].update({head: " ".join(sys.argv) for head in args.heads})
    write_json(out, figures, indent=1)
    print(f"wrote {out}")
    if args.write_sim:
        from bc_ros.core.train.experiments import results_table
        path = os.path.join(args.json_dir, SIM_JSON[task])
        with open(path, "w") as f:
            json.dump({"suite": task, "results": results, "table": results_table(results)}, f,
                      indent=1)
        print(f"wrote {path}")
    plot(figures["curves"], task, out[:-5] + ".png")
    return 0


def plot(curves: dict, task: str, path: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for head, curve in curves.items():
        if curve:
            ax.plot([c["minutes"] for c in curve], [100 * c["success_rate"] for c in curve],
                    marker="o", label=head)
    ax.set_xlabel("training minutes (2-core CPU, one thread)")
    ax.set_ylabel("success on held-out seeds (%)")
    ax.set_title(f"{task}: success against training time")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
