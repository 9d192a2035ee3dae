"""Train-then-evaluate experiments, resumable: what the sim results and ``bc-ros demo`` run.

An experiment is a dict::

    {"name": "trail_center", "dataset": "data/trail", "robot": "drone", "task": "trail",
     "train": {TrainConfig fields}, "checkpoint": "last"}

``run_experiment`` trains into ``<out>/<name>/`` (skipped when ``last.pt`` of a run with the same
config is there) and evaluates on held-out seeds into ``<out>/<name>/eval.json`` (skipped when it
exists for the same number of episodes), so a re-run reuses finished stages.
"""

from __future__ import annotations

import dataclasses
import json
import os

import torch

from bc_ros.core.policy.checkpoint import load_checkpoint
from bc_ros.core.sim.base import eval_seeds
from bc_ros.core.train.config import TrainConfig
from bc_ros.core.train.evaluate import evaluate
from bc_ros.core.train.trainer import train


def _read(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return None


def _write(path, data):
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1)
    os.replace(path + ".tmp", path)


def run_experiment(spec: dict, out: str, episodes: int = 100, force: bool = False,
                   progress: bool = True, eval_threads: int = 1) -> dict:
    """Train and evaluate one experiment; returns the eval summary with training figures."""
    run = os.path.join(out, spec["name"])
    cfg = TrainConfig(dataset=spec["dataset"], out=run, progress=progress, **spec["train"])
    previous = _read(os.path.join(run, "train.json"))
    same_run = (previous is not None and previous.get("config") == dataclasses.asdict(cfg)
                and previous.get("steps") == cfg.steps)
    if force or not same_run:
        summary = train(cfg)
    else:
        summary = previous
    ckpt = os.path.join(run, f"{spec.get('checkpoint', 'last')}.pt")
    eval_path = os.path.join(run, "eval.json")
    result = _read(eval_path)
    if (force or not same_run or result is None or result.get("episodes") != episodes
            or result.get("checkpoint") != ckpt):
        threads = torch.get_num_threads()
        torch.set_num_threads(eval_threads)
        try:
            policy, _ = load_checkpoint(ckpt)
            result = evaluate(policy, spec["robot"], spec["task"], seeds=eval_seeds(episodes),
                              progress=progress)
        finally:
            torch.set_num_threads(threads)
        result.update(checkpoint=ckpt, label=spec.get("label", spec["name"]),
                      name=spec["name"], head=cfg.head,
                      train_seconds=summary["seconds"],
                      train_samples_per_s=summary["samples_per_s"],
                      train_steps=summary["steps"], train_episodes=len(summary["split"]["train"]),
                      train_samples=summary["train_samples"])
        _write(eval_path, result)
    return result


def results_table(results: list[dict]) -> str:
    """Markdown table: success with interval, failures, training cost."""
    lines = ["| policy | success on held-out seeds | 95 % CI | failures | modes of successes "
             "| train |", "|---|---|---|---|---|---|"]
    for r in results:
        lo, hi = r["ci95"]
        fails = ", ".join(f"{k} {v}" for k, v in sorted(r["failures"].items())) or "-"
        modes = ", ".join(f"{k} {v}" for k, v in sorted(r["modes_of_successes"].items())
                          if k != "None") or "-"
        lines.append(f"| {r['label']} | {r['successes']}/{r['episodes']} | {100 * lo:.0f}-"
                     f"{100 * hi:.0f} % | {fails} | {modes} | {r['train_steps']} steps, "
                     f"{r['train_seconds'] / 60:.1f} min |")
    return "\n".join(lines)
