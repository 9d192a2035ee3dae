"""The LeRobot half of ``bench_vs_lerobot.py``: runs in a Python with LeRobot (>= 3.12, its own
torch), never imports bc_ros, and is started by ``bench_vs_lerobot.py`` as a child process.

    python lerobot_worker.py train   --root EXPORT --policy diffusion|act --out DIR --json F
                                     (--minutes M [--probe-steps K] | --steps N) [--set K=JSON]
    python lerobot_worker.py serve   --checkpoint DIR          # the policy for the eval loop
    python lerobot_worker.py latency --checkpoint DIR --obs OBS.npz --calls N --json F

``train`` is LeRobot's own training entry point (``lerobot.scripts.lerobot_train.train``, what
``lerobot-train`` runs), given its command-line arguments. Only these differ from LeRobot's
defaults, each forced: the device (cpu), no ImageNet weights (nothing outside the package
registries can be fetched here), no hub push, the steps (set by the wall-clock budget: a probe of
``--probe-steps`` measures the steps/s), and the scheduler's warm-up, scaled with the steps (500
of 100 000 by default). ``--set`` adds ``--policy.<key>=<value>`` arguments (recorded).

``serve`` answers the evaluation loop of bc_ros over this process's stdin/stdout (the binary
protocol below): each request is one observation, each answer one action, computed as LeRobot's
own ``lerobot_eval.rollout`` does (``preprocess_observation``, the policy's preprocessor,
``select_action``, the postprocessor). ``latency`` times that same path in this process (no
inter-process time in the figure).

Protocol (both directions): one JSON line, then the raw bytes of the arrays it lists
(``{"cmd": ..., "arrays": [{"name", "dtype", "shape"}, ...], ...}``), so that no pickle crosses
two Python and numpy versions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

# LeRobot's defaults that the budget scales (configs/train.py: steps; the diffusion config's
# scheduler_warmup_steps)
DEFAULT_STEPS = 100_000
REPO_ID = "bc_ros/vs_lerobot"


# ---- protocol --------------------------------------------------------------------------------
def send(stream, header: dict, arrays: dict | None = None) -> None:
    arrays = {k: np.ascontiguousarray(v) for k, v in (arrays or {}).items()}
    header = dict(header, arrays=[{"name": k, "dtype": v.dtype.str, "shape": list(v.shape)}
                                  for k, v in arrays.items()])
    stream.write(json.dumps(header).encode() + b"\n")
    for v in arrays.values():
        stream.write(v.tobytes())
    stream.flush()


def receive(stream) -> tuple[dict, dict] | tuple[None, None]:
    line = stream.readline()
    if not line:
        return None, None
    header = json.loads(line)
    arrays = {}
    for spec in header.pop("arrays", []):
        dtype = np.dtype(spec["dtype"])
        n = int(np.prod(spec["shape"], dtype=np.int64)) * dtype.itemsize
        data = stream.read(n)
        if len(data) != n:
            raise EOFError(f"{spec['name']}: {len(data)} of {n} bytes")
        arrays[spec["name"]] = np.frombuffer(data, dtype=dtype).reshape(spec["shape"])
    return header, arrays


# ---- training --------------------------------------------------------------------------------
def lerobot_args(args, steps: int, out: str, warmup: int | None, save: bool) -> list[str]:
    argv = [f"--dataset.repo_id={REPO_ID}", f"--dataset.root={args.root}",
            f"--policy.type={args.policy}", "--policy.device=cpu",
            "--policy.push_to_hub=false", "--policy.pretrained_backbone_weights=null",
            f"--output_dir={out}", f"--steps={steps}", f"--seed={args.seed}",
            f"--save_checkpoint={'true' if save else 'false'}", "--wandb.enable=false",
            f"--log_freq={max(1, min(200, steps))}"]
    if args.batch_size:
        argv.append(f"--batch_size={args.batch_size}")
    if args.num_workers is not None:
        argv.append(f"--num_workers={args.num_workers}")
    if warmup is not None:
        argv.append(f"--policy.scheduler_warmup_steps={warmup}")
    argv += [f"--policy.{k}={v}" for k, v in (s.split("=", 1) for s in args.set)]
    return argv


def run_lerobot_train(argv: list[str]) -> list[float]:
    """LeRobot's ``train()`` with these CLI arguments; returns the end time of every optimizer
    step (its own ``update_policy``, timed from outside)."""
    from lerobot.scripts import lerobot_train

    ends: list[float] = []
    original = lerobot_train.update_policy

    def timed(*a, **kw):
        out = original(*a, **kw)
        ends.append(time.perf_counter())
        return out

    lerobot_train.update_policy = timed
    saved_argv = sys.argv
    sys.argv = ["lerobot-train", *argv]
    try:
        lerobot_train.train()
    finally:
        sys.argv = saved_argv
        lerobot_train.update_policy = original
    return ends


def default_warmup(policy: str) -> int | None:
    from lerobot.policies.factory import make_policy_config

    return getattr(make_policy_config(policy), "scheduler_warmup_steps", None)


def train(args) -> int:
    import importlib.metadata

    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    probe = None
    warmup0 = default_warmup(args.policy)
    if args.steps:
        steps = args.steps
    else:
        # the steps that fit the budget, from a probe of the same training (skipping the first
        # steps: data loader workers starting, first-call allocations)
        ends = run_lerobot_train(lerobot_args(args, args.probe_steps, os.path.join(
            args.out, "probe"), warmup0, save=False))
        skip = min(2, len(ends) - 2)
        rate = (len(ends) - 1 - skip) / (ends[-1] - ends[skip])
        steps = max(1, int(args.minutes * 60 * rate))
        probe = {"steps": len(ends), "steps_per_s": rate}
        shutil.rmtree(os.path.join(args.out, "probe"), ignore_errors=True)
        print(f"probe: {rate:.3f} steps/s -> {steps} steps in {args.minutes} min", flush=True)
    warmup = None if warmup0 is None else max(0, round(warmup0 * min(1.0, steps / DEFAULT_STEPS)))
    argv = lerobot_args(args, steps, os.path.join(args.out, "run"), warmup, save=True)
    ends = run_lerobot_train(argv)
    from lerobot.configs.train import TrainPipelineConfig

    batch = args.batch_size or TrainPipelineConfig.__dataclass_fields__["batch_size"].default
    # the loop's time: from the first step's start (estimated as one mean step before its end)
    # to the last step's end; dataset loading, model building and the final save excluded
    per_step = (ends[-1] - ends[0]) / max(1, len(ends) - 1)
    seconds = ends[-1] - ends[0] + per_step
    last = os.path.join(args.out, "run", "checkpoints", "last", "pretrained_model")
    summary = {"policy": args.policy, "steps": len(ends), "batch_size": batch,
               "seconds": seconds, "samples_per_s": len(ends) * batch / seconds,
               "probe": probe, "argv": argv, "warmup_steps": warmup,
               "default_warmup_steps": warmup0, "checkpoint": os.path.realpath(last),
               "threads": args.threads, "wall_seconds": time.perf_counter() - started,
               "lerobot": importlib.metadata.version("lerobot"), "torch": torch.__version__,
               "python": sys.version.split()[0]}
    with open(args.json, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"{args.policy}: {len(ends)} steps of {batch} in {seconds / 60:.1f} min "
          f"({summary['samples_per_s']:.1f} samples/s)", flush=True)
    return 0


# ---- inference -------------------------------------------------------------------------------
class Served:
    """A trained LeRobot policy and its processors, fed as ``lerobot_eval.rollout`` feeds it."""

    def __init__(self, checkpoint: str):
        import torch

        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.policies.factory import get_policy_class, make_pre_post_processors

        self.torch = torch
        cfg = PreTrainedConfig.from_pretrained(checkpoint)
        cfg.device = "cpu"
        self.policy = get_policy_class(cfg.type).from_pretrained(checkpoint, config=cfg)
        self.policy.eval()
        self.pre, self.post = make_pre_post_processors(
            policy_cfg=cfg, pretrained_path=checkpoint,
            preprocessor_overrides={"device_processor": {"device": "cpu"}})
        self.config = cfg

    def spec(self) -> dict:
        c = self.config
        cams = [k.split(".", 2)[2] for k in c.image_features]
        state = c.robot_state_feature
        return {"type": c.type, "cameras": cams,
                "image_shape": list(next(iter(c.image_features.values())).shape),
                "state_dim": int(state.shape[0]) if state is not None else 0,
                "action_dim": int(c.action_feature.shape[0]),
                "n_action_steps": c.n_action_steps}

    def reset(self, seed: int | None = None) -> None:
        self.policy.reset()
        if seed is not None:
            self.torch.manual_seed(seed)   # the episode's noise (diffusion, ACT's dropout off)

    def queued(self) -> int:
        queues = getattr(self.policy, "_queues", None) or {}
        queue = queues.get("action") if isinstance(queues, dict) else None
        if queue is None:
            queue = getattr(self.policy, "_action_queue", None)
        return len(queue) if queue is not None else 0

    def act(self, images: np.ndarray, state: np.ndarray | None, cameras: list[str]) -> np.ndarray:
        """``images`` (V, H, W, 3) uint8 in ``cameras`` order, ``state`` (S,) -> action (A,)."""
        from lerobot.envs.utils import preprocess_observation

        raw = {"pixels": {c: images[i][None] for i, c in enumerate(cameras)}}
        if state is not None:
            raw["agent_pos"] = np.asarray(state, dtype=np.float32)[None]
        obs = preprocess_observation(raw)
        obs["task"] = [""]
        obs = self.pre(obs)
        with self.torch.inference_mode():
            action = self.policy.select_action(obs)
        action = self.post(action)
        return action.reshape(-1).to(self.torch.float64).numpy()


def serve(args) -> int:
    import torch

    torch.set_num_threads(args.threads)
    out = os.fdopen(os.dup(1), "wb")      # the protocol; anything printed goes to stderr
    os.dup2(2, 1)
    stdin = os.fdopen(0, "rb")
    served = Served(args.checkpoint)
    cameras = served.spec()["cameras"]
    send(out, {"ok": True, "spec": served.spec()})
    while True:
        header, arrays = receive(stdin)
        if header is None or header["cmd"] == "close":
            return 0
        try:
            if header["cmd"] == "reset":
                served.reset(header.get("seed"))
                send(out, {"ok": True})
            elif header["cmd"] == "act":
                action = served.act(arrays["images"], arrays.get("state"),
                                    header.get("cameras") or cameras)
                send(out, {"ok": True, "queued": served.queued()}, {"action": action})
            else:
                send(out, {"ok": False, "error": f"unknown command {header['cmd']!r}"})
        except Exception as e:  # noqa: BLE001 - the parent raises it with the traceback
            import traceback
            send(out, {"ok": False, "error": f"{type(e).__name__}: {e}",
                       "traceback": traceback.format_exc()})


def latency(args) -> int:
    """Batch-1 ``select_action`` path timed in this process: ``--calls`` ticks in a row from one
    reset (the chunk queue as in an episode: most ticks pop, one in ``n_action_steps`` runs the
    model), then ``--model-calls`` ticks that each run the model (reset before each)."""
    import torch

    torch.set_num_threads(args.threads)
    served = Served(args.checkpoint)
    obs = np.load(args.obs)
    cams = [str(c) for c in obs["cameras"]]
    images, state = obs["images"], obs["state"] if obs["state"].size else None
    served.reset(0)
    for _ in range(args.warmup):
        served.act(images, state, cams)
    served.reset(0)
    ticks, ran_model, started = [], [], time.perf_counter()
    for _ in range(args.calls):
        if ticks and time.perf_counter() - started > args.max_seconds:
            break     # LeRobot's diffusion here: a minute per chunk, 30 min per 1000 ticks
        empty = served.queued() == 0
        t = time.perf_counter()
        served.act(images, state, cams)
        ticks.append(time.perf_counter() - t)
        ran_model.append(empty)
    model, started = [], time.perf_counter()
    for i in range(args.model_calls):
        if model and time.perf_counter() - started > args.max_seconds:
            break
        served.reset(i)
        t = time.perf_counter()
        served.act(images, state, cams)
        model.append(time.perf_counter() - t)
    with open(args.json, "w") as f:
        json.dump({"ticks_s": ticks, "tick_ran_model": ran_model, "model_s": model,
                   "threads": torch.get_num_threads(), "spec": served.spec()}, f)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--root", required=True, help="the LeRobot export")
    t.add_argument("--policy", required=True, choices=["diffusion", "act"])
    t.add_argument("--out", required=True)
    t.add_argument("--json", required=True)
    t.add_argument("--minutes", type=float, default=10.0)
    t.add_argument("--steps", type=int, default=0, help="fixed steps instead of the budget")
    t.add_argument("--probe-steps", type=int, default=12)
    t.add_argument("--batch-size", type=int, default=0, help="0: LeRobot's default")
    t.add_argument("--num-workers", type=int)
    t.add_argument("--seed", type=int, default=1000)
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    for q in (t, sub.add_parser("serve"), sub.add_parser("latency")):
        q.add_argument("--threads", type=int, default=1)
        if q is not t:
            q.add_argument("--checkpoint", required=True)
    lat = sub.choices["latency"]
    lat.add_argument("--obs", required=True)
    lat.add_argument("--json", required=True)
    lat.add_argument("--calls", type=int, default=1000)
    lat.add_argument("--model-calls", type=int, default=100)
    lat.add_argument("--max-seconds", type=float, default=600.0,
                     help="each of the two loops stops after this (once it has one call)")
    lat.add_argument("--warmup", type=int, default=5)
    args = p.parse_args(argv)
    return {"train": train, "serve": serve, "latency": latency}[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
