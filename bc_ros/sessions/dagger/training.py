"""A round's model work outside the ROS graph: retraining the members in ``bc-ros train``
processes, calibrating the uncertainty threshold, evaluating a round's policy on held-out seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

from bc_ros.sessions.dagger.config import DaggerRunConfig, member_config

def train_round(cfg: DaggerRunConfig, r: int, extra: list[str],
                start: list[str] | None = None) -> tuple[list[str] | None, str]:
    """Retrain every member in a separate ``bc-ros train`` process (``train_parallel`` at once),
    on demos + rounds' data: from scratch, or from ``start`` (fine-tuning, one checkpoint per
    member). Returns (checkpoints, main first; or None if any failed, and the log of the first
    that failed; else the main's log)."""
    jobs = []
    for m in range(cfg.members):
        values = member_config(cfg, r, m, extra, start)
        os.makedirs(values["out"], exist_ok=True)
        config_path = os.path.join(values["out"], "train_config.json")   # YAML > JSON
        with open(config_path, "w") as f:
            json.dump(values, f)
        jobs.append((config_path, os.path.join(values["out"], "train.log"),
                     os.path.join(values["out"], "last.pt")))
    parallel = cfg.parallel_trainings
    codes = []
    for first in range(0, len(jobs), parallel):
        running = []
        for config_path, log, _ in jobs[first:first + parallel]:
            f = open(log, "w")
            running.append((subprocess.Popen([sys.executable, "-m", "bc_ros.cli", "train",
                                               "--config", config_path],
                                              stdout=f, stderr=subprocess.STDOUT), f))
        for proc, f in running:
            codes.append(proc.wait())
            f.close()
    for code, (_, log, ckpt) in zip(codes, jobs):
        if code != 0 or not os.path.exists(ckpt):
            return None, log
    return [ckpt for _, _, ckpt in jobs], jobs[0][1]


def command_limits(cfg: DaggerRunConfig) -> tuple[list[float], list[float], list[str]]:
    """The sim's command limits and action names (low, high, names)."""
    from bc_ros.core.sim import make_env
    env = make_env(cfg.robot, cfg.task, image_size=tuple(cfg.image_size))
    try:
        return list(env.action_low), list(env.action_high), list(env.action_names)
    finally:
        env.close()


def held_out_demos(cfg: DaggerRunConfig) -> list[int]:
    """The demonstrations the threshold is calibrated on (no member trains on them)."""
    from bc_ros.core.data.store import EpisodeStore
    known = [e["index"] for e in EpisodeStore(cfg.demos).episodes]
    if cfg.calibration_episodes:
        missing = sorted(set(cfg.calibration_episodes) - set(known))
        if missing:
            raise ValueError(f"calibration_episodes {missing} are not in {cfg.demos}")
        return list(cfg.calibration_episodes)
    held = [i for i in known if i not in set(cfg.train.get("episodes") or [])]
    if not held:
        raise ValueError(f"every demonstration in {cfg.demos} is trained on: leave some out of "
                         f"train.episodes to calibrate the threshold on")
    return held


def calibrate(cfg: DaggerRunConfig, checkpoints: list[str], low, high) -> dict:
    """Threshold for ``target_request_rate`` from the ensemble's scores on held-out demos."""
    import torch

    from bc_ros.core.dagger.calibration import ensemble_scores
    from bc_ros.core.dagger.uncertainty import calibrate_threshold, request_rate

    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scores = ensemble_scores(checkpoints, cfg.demos, held_out_demos(cfg), low, high,
                                 max_ticks=cfg.calibration_ticks)
    finally:
        torch.set_num_threads(threads)
    threshold = calibrate_threshold(scores, cfg.target_request_rate)
    return {"threshold": threshold, "held_out_rate": request_rate(scores, threshold),
            "ticks": int(scores.size), "score_median": float(np.median(scores)),
            "score_p90": float(np.percentile(scores, 90)),
            "seconds": time.perf_counter() - started}


def evaluate_checkpoint(path: str, cfg: DaggerRunConfig) -> dict | None:
    if cfg.eval_episodes <= 0:
        return None
    import torch

    from bc_ros.core.policy.checkpoint import load_checkpoint
    from bc_ros.core.sim.base import eval_seeds
    from bc_ros.core.train.evaluate import evaluate

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        policy, _ = load_checkpoint(path)
        result = evaluate(policy, cfg.robot, cfg.task, seeds=eval_seeds(cfg.eval_episodes))
    finally:
        torch.set_num_threads(threads)
    return {k: v for k, v in result.items() if k != "records"}
