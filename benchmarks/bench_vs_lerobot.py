"""bc_ros against LeRobot's own policies on the same demonstrations: success, training speed,
inference latency (issue 19).

    python benchmarks/bench_vs_lerobot.py --lerobot-python /work/lerobot_env/bin/python \\
        --data /work/data --minutes 30                      # the full comparison (hours)
    python benchmarks/bench_vs_lerobot.py --quick            # minutes: every path, tiny sizes

Per task (``bypass`` on the drone, ``reach_around`` on the arm; the learning benchmarks' data,
``bench_learning.py``'s recipe: 200 + 200 noise-injected and 1000 + 500 demonstrations from
``--data/<task>`` and ``--data/<task>_noise0.3``, recorded over ROS 2 when missing):

1. the demonstrations are gathered into one episode store (files linked, not copied) and
   exported with ``bc-ros dataset export``; both sides train on exactly these episodes;
2. LeRobot's DiffusionPolicy and ACT train with LeRobot's own entry point
   (``lerobot_worker.py train``, in ``--lerobot-python``) at its defaults, except what this
   machine forces (see ``lerobot_worker.py``: cpu, no ImageNet weights, steps and warm-up scaled
   to the budget, ``--num-workers`` data loader processes);
3. bc_ros's diffusion and cvae heads train with the task's preset (``presets.py``) for the same
   wall-clock budget: each side's steps come from a probe of its own training's steps/s
   (``--minutes`` per policy), its warm-up scaled with the steps as LeRobot's is; no validation
   split (LeRobot has none), so both see the same episodes;
4. every policy is evaluated by one loop, bc_ros's ``evaluate()`` on the first ``--episodes``
   held-out seeds: a LeRobot policy is served by a child process (``lerobot_worker.py serve``)
   behind the same interface as bc_ros's ``Policy`` (cameras, state, ``select_action``,
   ``reset``), fed the observation ``PolicyRunner`` sees and normalizing with its own processors;
5. batch-1 latency of each, in its own process, same torch threads (``--threads``), on one
   observation from the sim: ``--calls`` ticks in a row (as in an episode: most ticks pop the
   chunk queue) and ``--model-calls`` ticks that each run the model, median / p99 / max.

Results: a markdown table (printed; the README's) and JSON (``docs/figures/vs_lerobot.json``;
with ``--quick`` inside ``--work``). Finished steps are kept in ``--work`` and reused, so the
script can be stopped and started again; a finished training with other settings is an error,
never trained over.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from bench_learning import DEMOS, ROBOT, record
from figures import write_json
from lerobot_worker import receive, send

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "lerobot_worker.py")
TASKS = ("bypass", "reach_around")
POLICIES = ("bc_ros:diffusion", "bc_ros:cvae", "lerobot:diffusion", "lerobot:act")
NOISE_STD = 0.3
DEFAULT_LEROBOT_PYTHON = "/work/lerobot_env/bin/python"
QUICK_LEROBOT_SET = ["diffusion.down_dims=[32,64,128]", "diffusion.num_inference_steps=4",
                     "act.dim_model=64", "act.dim_feedforward=128"]
SETUP = """\
bench_vs_lerobot: no Python with LeRobot found ({why}).

LeRobot 0.6.1 needs Python >= 3.12 and torch >= 2.7, < 2.12 (its own pins), so it lives in a
venv of its own. On these machines only a Python 3.11 CPU torch lies on disk, so LeRobot's torch
comes from PyPI (a CUDA build, about 5.6 GB in the venv; it runs on the CPU):

  python3.12 -m venv /work/lerobot_env
  /work/lerobot_env/bin/pip install 'lerobot[training,diffusion]==0.6.1'
  # FFmpeg's shared libraries for torchcodec, LeRobot's default video decoder (without them
  # LeRobot falls back to pyav):
  apt-get install libavdevice59 libavfilter8 libavformat59 libavcodec59 libavutil57 \\
      libswscale6 libswresample4

then pass --lerobot-python /work/lerobot_env/bin/python (or set BC_ROS_LEROBOT_PYTHON).
"""


# ---- finding LeRobot -------------------------------------------------------------------------
def find_lerobot_python(explicit: str | None = None) -> tuple[str | None, str]:
    """(python, LeRobot version) of the Python to use, or (None, why not): ``explicit``, else
    $BC_ROS_LEROBOT_PYTHON, else /work/lerobot_env/bin/python where it exists."""
    python = explicit or os.environ.get("BC_ROS_LEROBOT_PYTHON") or (
        DEFAULT_LEROBOT_PYTHON if os.path.exists(DEFAULT_LEROBOT_PYTHON) else None)
    if not python:
        return None, f"no --lerobot-python, no $BC_ROS_LEROBOT_PYTHON, no {DEFAULT_LEROBOT_PYTHON}"
    probe = ("import sys, importlib.metadata as m; assert sys.version_info >= (3, 12), "
             "'Python ' + sys.version.split()[0] + ' < 3.12'; import lerobot; "
             "print(m.version('lerobot'))")
    try:
        proc = subprocess.run([python, "-c", probe], capture_output=True, text=True,
                              timeout=120, env=child_env(1))
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"{python}: {e}"
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return None, f"{python}: {last}"
    return python, proc.stdout.strip()


def child_env(threads: int, work: str | None = None) -> dict:
    """The LeRobot side's environment: offline, its caches in ``work``, none of this project's
    packages on its path, ``threads`` torch threads."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", WANDB_MODE="disabled",
               TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=str(threads))
    if work:
        env.update(HF_HOME=os.path.join(work, "hf"),
                   HF_LEROBOT_HOME=os.path.join(work, "hf", "lerobot"))
    env.pop("PYTHONPATH", None)
    return env


# ---- data ------------------------------------------------------------------------------------
def combined_store(sources: list[tuple[str, int]], dst: str) -> dict:
    """One episode store at ``dst`` holding the first ``n`` episodes of each ``(store, n)``, in
    that order, renumbered 0.. (files linked, not copied; the sources are only read). The stores
    must have been recorded with the same features."""
    from bc_ros.core.data.store import META

    metas = []
    for src, n in sources:
        with open(os.path.join(src, META)) as f:
            meta = json.load(f)
        if len(meta["episodes"]) < n:
            raise SystemExit(f"{src} has {len(meta['episodes'])} episodes, {n} wanted")
        metas.append((src, meta, n))
    first = metas[0][1]
    for src, meta, _ in metas[1:]:
        if meta["features"] != first["features"]:
            raise SystemExit(f"{src} was recorded with other features than {metas[0][0]}")
    tmp = dst + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "episodes"))
    episodes = []
    for src, meta, n in metas:
        for e in sorted(meta["episodes"], key=lambda e: e["index"])[:n]:
            name = f"episode_{len(episodes):06d}.h5"
            os.symlink(os.path.abspath(os.path.join(src, "episodes", e.get("file") or
                                                    f"episode_{e['index']:06d}.h5")),
                       os.path.join(tmp, "episodes", name))
            episodes.append(dict(e, index=len(episodes), file=name,
                                 source=f"{os.path.basename(os.path.normpath(src))}"
                                        f"/{e['index']}"))
    with open(os.path.join(tmp, META), "w") as f:
        json.dump(dict(first, episodes=episodes), f, indent=1)
    shutil.rmtree(dst, ignore_errors=True)
    os.replace(tmp, dst)
    return {"episodes": len(episodes), "frames": sum(e["length"] for e in episodes),
            "sources": [[src, n] for src, _, n in metas]}


def prepare(task: str, args, work: str) -> dict:
    """The task's demonstrations (recorded when missing), gathered and exported once."""
    from check_lerobot_load import export

    robot = ROBOT[task]
    clean, noisy = args.demos[task]
    data = os.path.join(args.data, task)
    record(data, robot, task, clean)
    sources = [(data, clean)]
    if noisy:
        noise_data = os.path.join(args.data, f"{task}_noise{NOISE_STD:g}")
        record(noise_data, robot, task, noisy, NOISE_STD, first_seed=100_000)
        sources.append((noise_data, noisy))
    done = os.path.join(work, "data.json")
    if os.path.exists(done):
        with open(done) as f:
            data_info = json.load(f)
        if data_info["sources"] == [[s, n] for s, n in sources]:
            return data_info
    store, out = os.path.join(work, "demos"), os.path.join(work, "lerobot")
    info = combined_store(sources, store)
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    summary = export(store, out, robot, os.path.join(work, "export.json"))
    info.update(store=store, export=out, export_seconds=time.perf_counter() - started,
                cameras=summary["cameras"], robot=robot, task=task)
    write_json(done, info, indent=1)
    return info


def observation(robot: str, task: str, image_size=(96, 96)) -> dict:
    """One observation as ``evaluate`` feeds it (the first held-out seed's first tick), and the
    command limits: what both sides' latency is measured on."""
    from bc_ros.core.sim import make_env
    from bc_ros.core.sim.base import eval_seeds
    from bc_ros.core.train.evaluate import recorded_state

    env = make_env(robot, task, image_size=image_size)
    try:
        obs = env.reset(eval_seeds(1)[0])
        return {"images": {k: np.asarray(v) for k, v in obs["images"].items()},
                "state": recorded_state(env, robot), "low": list(env.action_low),
                "high": list(env.action_high)}
    finally:
        env.close()


# ---- training --------------------------------------------------------------------------------
def bc_ros_fields(task: str, head: str, store: str, threads: int) -> dict:
    """The preset's TrainConfig fields, on every episode of ``store``, no validation split."""
    from bc_ros.core.train.presets import load_preset

    return {**load_preset(task, head), "dataset": store, "episodes": [], "val_fraction": 0.0,
            "threads": threads, "progress": False}


def train_bc_ros_child(spec_path: str) -> int:
    """(In a child process of this script.) A probe of the preset's training measures its
    steps/s; the run then takes the steps that fit the budget, warm-up scaled with them."""
    import torch

    from bc_ros.core.train.config import TrainConfig
    from bc_ros.core.train.trainer import train

    with open(spec_path) as f:
        spec = json.load(f)
    fields, out = spec["fields"], spec["out"]
    torch.set_num_threads(fields["threads"])
    preset_steps, preset_warmup = fields["steps"], fields["warmup_steps"]
    probe = None
    if spec.get("steps"):
        steps = spec["steps"]
    else:
        starts = []
        train(TrainConfig(**{**fields, "out": os.path.join(out, "probe"),
                             "steps": spec["probe_steps"], "ema": fields.get("ema", True)}),
              on_batch=lambda step, batch: starts.append(time.perf_counter()))
        skip = min(2, len(starts) - 2)
        rate = (len(starts) - 1 - skip) / (starts[-1] - starts[skip])
        steps = max(1, int(spec["minutes"] * 60 * rate))
        probe = {"steps": len(starts), "steps_per_s": rate}
        print(f"probe: {rate:.3f} steps/s -> {steps} steps in {spec['minutes']} min", flush=True)
        shutil.rmtree(os.path.join(out, "probe"), ignore_errors=True)
    warmup = round(preset_warmup * min(1.0, steps / preset_steps))
    cfg = TrainConfig(**{**fields, "out": os.path.join(out, "run"), "steps": steps,
                         "warmup_steps": warmup,
                         "val_every": min(fields.get("val_every", 200), steps),
                         "save_every": min(fields.get("save_every", 500), steps)})
    summary = train(cfg)
    result = {"steps": summary["steps"], "batch_size": cfg.batch_size,
              "seconds": summary["seconds"], "samples_per_s": summary["samples_per_s"],
              "probe": probe, "warmup_steps": warmup, "preset_steps": preset_steps,
              "preset_warmup_steps": preset_warmup, "precision": summary["precision"],
              "checkpoint": summary["last"], "config": json.loads(json.dumps(
                  dataclasses.asdict(cfg))), "threads": fields["threads"],
              "torch": torch.__version__, "python": sys.version.split()[0]}
    write_json(spec["json"], result, indent=1)
    print(f"{fields['head']}: {result['steps']} steps of {cfg.batch_size} in "
          f"{result['seconds'] / 60:.1f} min ({result['samples_per_s']:.1f} samples/s)",
          flush=True)
    return 0


def trained(path: str, key: dict) -> dict | None:
    """The training summary at ``path`` when it was made with ``key``; a different one is an
    error (never trained over), none is None."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        summary = json.load(f)
    if summary.get("key") != key:
        differ = sorted(k for k in set(key) | set(summary.get("key", {}))
                        if key.get(k) != summary.get("key", {}).get(k))
        raise SystemExit(f"{os.path.dirname(path)} was trained with other settings "
                         f"({', '.join(differ)}): give another --work, or remove the folder")
    return summary


def lerobot_set(args, policy: str) -> list[str]:
    """``--lerobot-set`` options of ``policy`` as KEY=VALUE."""
    return [s.split(".", 1)[1] for s in args.lerobot_set if s.split(".", 1)[0] == policy]


def train_policy(name: str, task: str, data: dict, args, work: str) -> dict:
    side, kind = name.split(":")
    out = os.path.join(work, name.replace(":", "_"))
    path = os.path.join(out, "train.json")
    key = {"minutes": args.minutes, "steps": args.steps.get(name, 0), "threads": args.threads,
           "episodes": data["episodes"], "sources": data["sources"],
           "set": lerobot_set(args, kind) if side == "lerobot" else [],
           "batch_size": args.lerobot_batch_size if side == "lerobot" else 0}
    summary = trained(path, key)
    if summary is not None:
        return summary
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    raw = os.path.join(out, "summary.json")
    if side == "bc_ros":
        spec = {"fields": bc_ros_fields(task, kind, data["store"], args.threads), "out": out,
                "minutes": args.minutes, "steps": args.steps.get(name, 0),
                "probe_steps": args.probe_steps, "json": raw}
        with open(os.path.join(out, "spec.json"), "w") as f:
            json.dump(spec, f, indent=1)
        cmd = [sys.executable, os.path.abspath(__file__), "--train-child",
               os.path.join(out, "spec.json")]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    else:
        cmd = [args.lerobot_python, WORKER, "train", "--root", data["export"], "--policy", kind,
               "--out", out, "--json", raw, "--minutes", str(args.minutes),
               "--probe-steps", str(args.probe_steps), "--threads", str(args.threads),
               "--num-workers", str(args.num_workers)]
        if args.steps.get(name):
            cmd += ["--steps", str(args.steps[name])]
        if args.lerobot_batch_size:
            cmd += ["--batch-size", str(args.lerobot_batch_size)]
        cmd += [f"--set={s}" for s in lerobot_set(args, kind)]
        env = child_env(args.threads, work)
    print(f"[{task}] training {name}", flush=True)
    log = os.path.join(out, "train.log")
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode:
        with open(log) as f:
            tail = f.read()[-4000:]
        raise SystemExit(f"training {name} on {task} failed ({proc.returncode}); log {log}:\n"
                         f"{tail}")
    with open(raw) as f:
        summary = json.load(f)
    summary["key"] = key
    write_json(path, summary, indent=1)
    print(f"[{task}] {name}: {summary['steps']} steps of {summary['batch_size']} in "
          f"{summary['seconds'] / 60:.1f} min ({summary['samples_per_s']:.1f} samples/s)",
          flush=True)
    return summary


# ---- a LeRobot policy behind bc_ros's Policy interface --------------------------------------
@dataclasses.dataclass
class ServedConfig:
    """What ``PolicyRunner`` and ``evaluate`` read of a policy's config."""
    cameras: list[str]
    image_size: tuple[int, int]          # (width, height)
    state_dim: int
    action_names: list[str]
    state_names: list[str] = dataclasses.field(default_factory=list)
    head: str = "lerobot"
    goal_dim: int = 0                    # not goal-conditioned


class LeRobotPolicy:
    """A trained LeRobot policy in a child process (``lerobot_worker.py serve``), with the part
    of ``bc_ros.core.policy.policy.Policy`` that ``PolicyRunner`` uses: ``config``, ``eval``,
    ``reset``, ``select_action`` (images (V, H, W, 3) uint8 in ``config.cameras`` order, the
    state -> one action) and ``queued_actions``. The episode's seed (the generator
    ``run_episode`` hands the runner) seeds the child's torch at the first tick of an episode,
    so an episode repeats exactly."""

    def __init__(self, python: str, checkpoint: str, action_names: list[str], threads: int,
                 work: str | None = None):
        self.proc = subprocess.Popen([python, WORKER, "serve", "--checkpoint", checkpoint,
                                      "--threads", str(threads)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=child_env(threads, work))
        header = self._answer()
        spec = header["spec"]
        c, h, w = spec["image_shape"]
        if spec["action_dim"] != len(action_names):
            raise ValueError(f"the LeRobot policy acts in {spec['action_dim']} dimensions, the "
                             f"export's actions are {action_names}")
        self.spec = spec
        self.config = ServedConfig(cameras=spec["cameras"], image_size=(w, h),
                                   state_dim=spec["state_dim"], action_names=list(action_names))
        self._reset, self._queued = True, 0

    def _answer(self) -> dict:
        header, arrays = receive(self.proc.stdout)
        if header is None:
            raise RuntimeError(f"the LeRobot policy process ended ({self.proc.wait()})")
        if not header.get("ok"):
            raise RuntimeError(f"LeRobot policy: {header.get('error')}\n"
                               f"{header.get('traceback', '')}")
        header["arrays"] = arrays
        return header

    def eval(self):
        return self

    def reset(self) -> None:
        self._reset = True

    def select_action(self, images, state=None, goal=None, generator=None) -> np.ndarray:
        if self._reset:
            seed = int(generator.initial_seed()) if generator is not None else None
            send(self.proc.stdin, {"cmd": "reset", "seed": seed})
            self._answer()
            self._reset = False
        arrays = {"images": np.asarray(images, dtype=np.uint8)}
        if state is not None and self.config.state_dim:
            arrays["state"] = np.asarray(state, dtype=np.float32)
        send(self.proc.stdin, {"cmd": "act", "cameras": self.config.cameras}, arrays)
        answer = self._answer()
        self._queued = answer["queued"]
        return answer["arrays"]["action"]

    def queued_actions(self) -> np.ndarray:
        """None shown: the LeRobot policy's queue holds normalized actions inside the child
        (evaluation does not look at them; the policy node's trajectories would)."""
        return np.zeros((0, len(self.config.action_names)))

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                send(self.proc.stdin, {"cmd": "close"})
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# ---- evaluation and latency ------------------------------------------------------------------
def evaluate_policy(name: str, task: str, data: dict, summary: dict, args, work: str) -> dict:
    """Success on the first ``--episodes`` held-out seeds through ``evaluate`` (cached)."""
    from bc_ros.core.sim.base import eval_seeds
    from bc_ros.core.train.evaluate import evaluate

    episodes = args.eval_episodes.get(name, args.episodes)
    if episodes == 0:      # --eval-episodes POLICY=0: too slow to evaluate here (say why)
        return {"successes": None, "episodes": 0, "success_rate": None, "ci95": None,
                "policy": name, "checkpoint": summary["checkpoint"]}
    path = os.path.join(work, name.replace(":", "_"), f"eval{episodes}.json")
    if os.path.exists(path):
        with open(path) as f:
            result = json.load(f)
        if result.get("checkpoint") == summary["checkpoint"]:
            return result
    print(f"[{task}] evaluating {name} on {episodes} held-out seeds", flush=True)
    policy = load(name, summary, data, args, work)
    try:
        result = evaluate(policy, data["robot"], task, seeds=eval_seeds(episodes))
    finally:
        getattr(policy, "close", lambda: None)()
    result.update(checkpoint=summary["checkpoint"], policy=name)
    write_json(path, result, indent=1)
    return result


def load(name: str, summary: dict, data: dict, args, work: str):
    if name.startswith("bc_ros:"):
        from bc_ros.core.policy.checkpoint import load_checkpoint
        return load_checkpoint(summary["checkpoint"])[0]
    with open(os.path.join(data["export"], "meta", "info.json")) as f:
        actions = json.load(f)["features"]["action"]["names"]
    return LeRobotPolicy(args.lerobot_python, summary["checkpoint"], actions, args.threads,
                         work)


def latency_stats(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1e3
    if not ms.size:
        return {"n": 0}
    return {"n": int(ms.size), "median_ms": float(np.median(ms)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


def measure_latency(name: str, summary: dict, obs_path: str, obs: dict, args,
                    work: str) -> dict:
    """Ticks in a row and ticks that each run the model, in the policy's own process."""
    path = os.path.join(work, name.replace(":", "_"), "latency.json")
    key = {"calls": args.calls, "model_calls": args.model_calls, "threads": args.threads,
           "latency_minutes": args.latency_minutes,
           "checkpoint": summary["checkpoint"]}
    if os.path.exists(path):
        with open(path) as f:
            result = json.load(f)
        if result.get("key") == key:
            return result
    print(f"[{obs['task']}] latency of {name}", flush=True)
    if name.startswith("bc_ros:"):
        raw = bc_ros_latency(summary["checkpoint"], obs, args)
    else:
        out = os.path.join(work, name.replace(":", "_"), "latency_raw.json")
        cmd = [args.lerobot_python, WORKER, "latency", "--checkpoint", summary["checkpoint"],
               "--obs", obs_path, "--json", out, "--calls", str(args.calls),
               "--model-calls", str(args.model_calls), "--threads", str(args.threads),
               "--max-seconds", str(args.latency_minutes * 60)]
        proc = subprocess.run(cmd, env=child_env(args.threads, work), capture_output=True,
                              text=True, check=False)
        if proc.returncode:
            raise SystemExit(f"latency of {name} failed:\n{proc.stderr[-4000:]}")
        with open(out) as f:
            raw = json.load(f)
    ticks = raw["ticks_s"]
    model_ticks = [t for t, ran in zip(ticks, raw["tick_ran_model"]) if ran]
    result = {"key": key, "ticks": latency_stats(ticks),
              "ticks_that_ran_the_model": latency_stats(model_ticks),
              "model": latency_stats(raw["model_s"]), "threads": raw["threads"]}
    write_json(path, result, indent=1)
    return result


def bc_ros_latency(checkpoint: str, obs: dict, args) -> dict:
    """The same scheme as ``lerobot_worker.latency``, through ``PolicyRunner.act``."""
    import torch

    from bc_ros.core.policy.checkpoint import load_checkpoint
    from bc_ros.core.policy.runner import PolicyRunner, RunnerConfig

    policy, _ = load_checkpoint(checkpoint)
    runner = PolicyRunner(policy, RunnerConfig(low=obs["low"], high=obs["high"]))
    o = {"images": obs["images"], "state": obs["state"]}

    def reset(seed: int) -> None:
        runner.generator = torch.Generator().manual_seed(seed)
        runner.reset()

    reset(0)
    for _ in range(5):
        runner.act(o)
    reset(0)
    ticks, ran, started = [], [], time.perf_counter()
    for _ in range(args.calls):
        if ticks and time.perf_counter() - started > args.latency_minutes * 60:
            break
        empty = len(policy.queued_actions()) == 0 or policy.config.temporal_ensemble > 0
        t = time.perf_counter()
        runner.act(o)
        ticks.append(time.perf_counter() - t)
        ran.append(empty)
    model, started = [], time.perf_counter()
    for i in range(args.model_calls):
        if model and time.perf_counter() - started > args.latency_minutes * 60:
            break
        reset(i)
        t = time.perf_counter()
        runner.act(o)
        model.append(time.perf_counter() - t)
    return {"ticks_s": ticks, "tick_ran_model": ran, "model_s": model,
            "threads": torch.get_num_threads()}


# ---- the table -------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    lines = ["| task | policy | success (held-out seeds) | 95 % CI | training | samples/s | "
             "tick latency median / p99 ms | model call median / p99 ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t, m = r["latency"]["ticks"], r["latency"]["model"]
        if r["episodes"]:
            lo, hi = r["ci95"]
            success = f"{r['successes']}/{r['episodes']} | {100 * lo:.0f}-{100 * hi:.0f} %"
        else:
            success = "not evaluated | -"
        lines.append(
            f"| {r['task']} | {r['policy']} | {success} | {r['train_minutes']:.1f} min, "
            f"{r['train_steps']} steps of {r['batch_size']} | {r['samples_per_s']:.1f} | "
            f"{t['median_ms']:.2f} / {t['p99_ms']:.2f} | "
            f"{m['median_ms']:.1f} / {m['p99_ms']:.1f} |")
    return "\n".join(lines)


def ratios(rows: list[dict]) -> list[dict]:
    """Per task, each bc_ros head against each LeRobot policy: the issue's three goals."""
    out = []
    for task in sorted({r["task"] for r in rows}):
        ours = [r for r in rows if r["task"] == task and r["side"] == "bc_ros"]
        theirs = [r for r in rows if r["task"] == task and r["side"] == "lerobot"]
        for a in ours:
            for b in theirs:
                out.append({
                    "task": task, "bc_ros": a["policy"], "lerobot": b["policy"],
                    "success_difference": (None if None in (a["success_rate"],
                                                            b["success_rate"])
                                           else a["success_rate"] - b["success_rate"]),
                    "samples_per_s_ratio": a["samples_per_s"] / b["samples_per_s"],
                    "model_p99_ratio": b["latency"]["model"]["p99_ms"]
                    / a["latency"]["model"]["p99_ms"],
                    "tick_p99_ratio": b["latency"]["ticks"]["p99_ms"]
                    / a["latency"]["ticks"]["p99_ms"]})
    return out


# ---- main ------------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lerobot-python", help="a Python >= 3.12 with LeRobot (default: "
                   f"$BC_ROS_LEROBOT_PYTHON, else {DEFAULT_LEROBOT_PYTHON} where it exists)")
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    p.add_argument("--data", default=os.path.join(ROOT, "data"),
                   help="where <task> and <task>_noise0.3 are (recorded when missing)")
    p.add_argument("--demos", action="append", default=[], metavar="TASK=CLEAN,NOISY",
                   help="demonstrations per task (default: bench_learning's recipe, "
                        f"{DEMOS['bypass']} and {DEMOS['reach_around']})")
    p.add_argument("--minutes", type=float, default=30.0,
                   help="training wall-clock budget per policy and task")
    p.add_argument("--steps", action="append", default=[], metavar="POLICY=N",
                   help="train POLICY (e.g. lerobot:act) for N steps instead of the budget")
    p.add_argument("--probe-steps", type=int, default=12,
                   help="steps of the probe that measures each training's steps/s")
    p.add_argument("--episodes", type=int, default=100, help="held-out seeds")
    p.add_argument("--eval-episodes", action="append", default=[], metavar="POLICY=N",
                   help="held-out seeds for one policy instead of --episodes; 0 skips its "
                        "evaluation (LeRobot's diffusion at its defaults takes about a minute "
                        "a chunk here: hours an episode)")
    p.add_argument("--calls", type=int, default=1000, help="latency: ticks in a row")
    p.add_argument("--model-calls", type=int, default=100,
                   help="latency: ticks that each run the model (at most --latency-minutes "
                        "of them)")
    p.add_argument("--latency-minutes", type=float, default=10.0,
                   help="at most this long for each of the two latency loops (both sides)")
    p.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    p.add_argument("--num-workers", type=int, default=1,
                   help="LeRobot's data loader processes (its default 4; 2 cores here)")
    p.add_argument("--lerobot-batch-size", type=int, default=0,
                   help="0: LeRobot's default (8)")
    p.add_argument("--lerobot-set", action="append", default=[],
                   metavar="POLICY.KEY=VALUE",
                   help="a LeRobot policy option (--policy.KEY=VALUE for POLICY, diffusion or "
                        "act), e.g. act.chunk_size=16; recorded in the JSON")
    p.add_argument("--work", default=os.path.join(ROOT, "runs", "vs_lerobot"),
                   help="exports, checkpoints and partial results (reused)")
    p.add_argument("--json", help="default: docs/figures/vs_lerobot.json (--quick: in --work)")
    p.add_argument("--quick", action="store_true",
                   help="every path at tiny sizes: reach_around, 3 + 1 demonstrations, 6 s "
                        "of training, LeRobot's models shrunk (QUICK_LEROBOT_SET), 2 "
                        "evaluation episodes, 100 latency ticks")
    p.add_argument("--train-child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    demos = {t: DEMOS[t] for t in TASKS}
    steps = {}
    if args.quick:
        if "--tasks" not in " ".join(argv if argv is not None else sys.argv):
            args.tasks = ["reach_around"]
        demos = {t: (3, 1) for t in TASKS}
        args.minutes = 0.1       # a probe of 4 steps, then the steps of 6 s
        args.episodes, args.calls, args.model_calls, args.latency_minutes = 2, 100, 3, 0.5
        args.probe_steps = min(args.probe_steps, 4)
        # LeRobot's diffusion at its size runs a chunk in about a minute here (100 denoising
        # steps of a 260M-parameter UNet): shrunk, so that the paths run in minutes
        args.lerobot_set = QUICK_LEROBOT_SET + args.lerobot_set
    for spec in args.demos:
        task, _, value = spec.partition("=")
        clean, _, noisy = value.partition(",")
        demos[task] = (int(clean), int(noisy or 0))
    for spec in args.steps:
        name, _, value = spec.rpartition("=")
        steps[name] = int(value)
    eval_episodes = {}
    for spec in args.eval_episodes:
        name, _, value = spec.rpartition("=")
        if name not in POLICIES or not value.isdigit():
            raise SystemExit(f"--eval-episodes takes POLICY=N with POLICY one of "
                             f"{', '.join(POLICIES)}, got {spec!r}")
        eval_episodes[name] = int(value)
    args.eval_episodes = eval_episodes
    args.demos, args.steps = demos, steps
    if args.json is None:
        args.json = (os.path.join(args.work, "vs_lerobot.json") if args.quick else
                     os.path.join(ROOT, "docs", "figures", "vs_lerobot.json"))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.train_child:
        return train_bc_ros_child(args.train_child)
    needs_lerobot = any(p.startswith("lerobot:") for p in args.policies)
    version = None
    if needs_lerobot:
        args.lerobot_python, version = find_lerobot_python(args.lerobot_python)
        if args.lerobot_python is None:
            print(SETUP.format(why=version), file=sys.stderr)
            return 2
        print(f"LeRobot {version} in {args.lerobot_python}", flush=True)

    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    rows = []
    for task in args.tasks:
        work = os.path.join(os.path.abspath(args.work), task)
        os.makedirs(work, exist_ok=True)
        data = prepare(task, args, work)
        print(f"[{task}] {data['episodes']} episodes, {data['frames']} frames, exported to "
              f"{data['export']}", flush=True)
        obs = observation(data["robot"], task)
        obs["task"] = task
        cams = data["cameras"]
        obs_path = os.path.join(work, "observation.npz")
        np.savez(obs_path, images=np.stack([obs["images"][c] for c in cams]),
                 state=obs["state"], cameras=np.array(cams))
        for name in args.policies:
            summary = train_policy(name, task, data, args, work)
            result = evaluate_policy(name, task, data, summary, args, work)
            lat = measure_latency(name, summary, obs_path, obs, args, work)
            result.pop("records", None)
            rows.append({**result, "task": task, "policy": name, "side": name.split(":")[0],
                         "train_minutes": summary["seconds"] / 60,
                         "train_steps": summary["steps"], "batch_size": summary["batch_size"],
                         "samples_per_s": summary["samples_per_s"], "latency": lat,
                         "training": {k: v for k, v in summary.items() if k != "config"}})
            print(f"[{task}] {name}: {result['successes']}/{result['episodes']} evaluated, "
                  f"{summary['samples_per_s']:.1f} samples/s, model p99 "
                  f"{lat['model']['p99_ms']:.1f} ms", flush=True)
    figures = {"issue": 19, "quick": args.quick, "lerobot": version,
               "lerobot_python": args.lerobot_python, "threads": args.threads,
               "minutes": args.minutes, "episodes": args.episodes,
               "eval_episodes": args.eval_episodes,
               "demos": {t: args.demos[t] for t in args.tasks},
               "num_workers": args.num_workers, "lerobot_set": args.lerobot_set,
               "command": " ".join(sys.argv), "seconds": time.perf_counter() - started,
               "rows": rows, "ratios": ratios(rows), "table": table(rows)}
    write_json(args.json, figures, indent=1)
    print(figures["table"])
    print(f"wrote {args.json} ({figures['seconds'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
