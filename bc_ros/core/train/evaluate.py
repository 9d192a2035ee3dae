"""Closed-loop evaluation in the sims without ROS (``bc-ros eval``).

For each held-out seed: reset the sim, then at every control step turn the sim's observation
into the form the recorder stored (the cameras, the state vector as the odometry or joint-state
message carries it), compute the command with ``PolicyRunner`` (the same code path as the policy
node: history, chunk queue, clamping, non-finite guard) and step the sim with it. Sim time only:
the result is the same on a fast and a slow machine.

Reported: success rate with a 95 % Wilson interval, failure causes (trail_exit, collision,
timeout, ...), mean episode length, the mode each episode ended in (bypass/reach_around side),
and per-episode records. Stochastic heads draw their noise from a generator seeded by the
episode's seed, so an episode repeats exactly.
"""

from __future__ import annotations

import collections
import math
import os
import time

import numpy as np
import torch

from bc_ros.core.geometry import yaw_from_quaternion
from bc_ros.core.policy.policy import Policy
from bc_ros.core.policy.runner import ObservationError, PolicyRunner, RunnerConfig
from bc_ros.core.sim import make_env
from bc_ros.core.sim.base import SimEnv, eval_seeds


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % score interval of a binomial proportion (good at 0 % and 100 %, unlike p +- 2 se)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def recorded_state(env: SimEnv, robot: str) -> np.ndarray:
    """The state vector exactly as the recorder stores it from the sim node's messages: the
    odometry as (x, y, z, yaw, vx, vy, vz, yaw_rate) (``odometry_from_msg``: drone, husky),
    joint positions in joint-state order (``joint_state_from_msg``: arm)."""
    if env.state_type == "odometry":
        o = env.odometry()
        yaw = yaw_from_quaternion(*o["orientation_xyzw"])
        return np.array([*o["position"], yaw, *o["linear_body"], o["angular_body"][2]],
                        dtype=np.float32)
    return np.asarray(env.joint_state()["position"], dtype=np.float32)


def run_episode(env: SimEnv, runner: PolicyRunner, robot: str, seed: int,
                on_step=None) -> dict:
    """One closed-loop episode. ``on_step(env, obs, command, info)`` after every step."""
    runner.generator = torch.Generator().manual_seed(seed)
    runner.reset()
    obs = env.reset(seed)
    steps, info, clamped, nonfinite = 0, {}, 0, 0
    wants_goal = bool(runner.policy.config.goal_dim)
    if wants_goal and env.goal_point() is None:
        raise ValueError(f"the policy is goal-conditioned and the {robot}/{env.task} task has "
                         f"no goal (the arm's reach_goal has one)")
    while True:
        # the episode's goal as the policy node gets it on its goal topic, read every tick (a
        # goal changed mid-episode acts at once)
        goal = env.goal_point() if wants_goal else None
        out = runner.act({"images": obs["images"], "state": recorded_state(env, robot)}, goal)
        clamped += out.status == "clamped"
        nonfinite += out.status == "nonfinite"
        obs, _, terminated, truncated, info = env.step(out.command)
        steps += 1
        if on_step is not None:
            on_step(env, obs, out.command, info)
        if terminated or truncated:
            break
    return {"seed": seed, "success": bool(info.get("success")), "failure": info.get("failure"),
            "steps": steps, "sim_seconds": steps * env.control_dt, "mode": info.get("mode"),
            "final_distance": info.get("distance"),
            "clamped": clamped, "nonfinite": nonfinite}


def evaluate(policy: Policy, robot: str, task: str, *, episodes: int = 100,
             seeds: list[int] | None = None, video_dir: str | None = None,
             video_episodes: int = 0, progress: bool = False) -> dict:
    """Success of ``policy`` on held-out seeds (``EVAL_SEEDS`` unless ``seeds`` is given)."""
    seeds = list(seeds) if seeds is not None else eval_seeds(episodes)
    try:
        env = make_env(robot, task, image_size=tuple(policy.config.image_size))
    except ValueError as e:
        raise ValueError(f"the policy does not fit the {robot} sim: it was trained on "
                         f"{policy.config.image_size[0]}x{policy.config.image_size[1]} images "
                         f"({e})") from None
    runner = PolicyRunner(policy, RunnerConfig(low=list(env.action_low),
                                               high=list(env.action_high)))
    records, t0 = [], time.perf_counter()
    iterator = seeds
    if progress:
        from tqdm import tqdm
        iterator = tqdm(seeds, desc=f"eval {robot}/{task}", unit="episode", dynamic_ncols=True)
    try:
        for i, seed in enumerate(iterator):
            frames = [] if video_dir and i < video_episodes else None
            hook = (lambda e, o, c, inf: frames.append(e.render_overview(320, 240))
                    ) if frames is not None else None
            try:
                records.append(run_episode(env, runner, robot, seed, on_step=hook))
            except ObservationError as e:
                raise ValueError(f"the policy does not fit the {robot} sim: {e}") from None
            if frames:
                write_video(os.path.join(video_dir, f"episode_{seed}.mp4"), frames,
                            fps=round(1.0 / env.control_dt))
    finally:
        env.close()
    return summarize(records, robot, task, time.perf_counter() - t0)


def summarize(records: list[dict], robot: str, task: str, seconds: float) -> dict:
    n = len(records)
    wins = sum(r["success"] for r in records)
    lo, hi = wilson_interval(wins, n)
    failures = collections.Counter(r["failure"] for r in records if not r["success"])
    # the way round of each success, for the tasks that have two (a single-way task: none)
    modes = collections.Counter(str(r["mode"]) for r in records
                                if r["success"] and r["mode"] is not None)
    return {"robot": robot, "task": task, "episodes": n, "successes": wins,
            "success_rate": wins / n if n else 0.0, "ci95": [lo, hi],
            "failures": dict(failures), "modes_of_successes": dict(modes),
            "mean_steps": float(np.mean([r["steps"] for r in records])) if n else 0.0,
            **_distance_summary(records),
            "wall_seconds": seconds, "records": records}


def _distance_summary(records: list[dict]) -> dict:
    """Mean and median final distance to the target (m), for the tasks that report one."""
    d = [r["final_distance"] for r in records if r.get("final_distance") is not None]
    if not d:
        return {}
    return {"mean_final_distance": float(np.mean(d)), "median_final_distance": float(np.median(d))}


def write_video(path: str, frames: list[np.ndarray], fps: int) -> None:
    """H.264 mp4 through PyAV (the same dependency as the LeRobot export)."""
    import av
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]),
                                               format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def plot_results(results: list[dict], path: str, title: str = "") -> None:
    """Bar chart of success rates with their 95 % intervals (one bar per result's ``label``)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    labels = [r.get("label", f"{r['robot']}/{r['task']}") for r in results]
    rates = np.array([r["success_rate"] for r in results]) * 100
    lo = rates - np.array([r["ci95"][0] for r in results]) * 100
    hi = np.array([r["ci95"][1] for r in results]) * 100 - rates
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(results)), 3.2))
    ax.bar(labels, rates, yerr=[lo, hi], capsize=4, color="#4c72b0")
    ax.set_ylim(0, 105)
    ax.set_ylabel("success (%)")
    ax.set_title(title or f"{results[0]['episodes']} held-out seeds, 95 % interval")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
