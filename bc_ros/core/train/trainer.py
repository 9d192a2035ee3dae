"""The behavioral-cloning trainer: one process, or one of N under ``torchrun`` (DDP, gloo or NCCL).

    bc-ros train --dataset D --head mog --out runs/mog            # one process
    torchrun --nproc_per_node 2 -m bc_ros.cli train --dataset D ...  # DistributedDataParallel

What a run writes into ``out``:

    best.pt          the policy with the lowest validation loss (a bc_ros checkpoint)
    last.pt          the policy at the last periodic save
    train_state.pt   optimizer, scheduler, step, the raw weights and the EMA of last.pt, for
                     ``--resume``
    step_<N>.pt      with ``keep_every``: the policy at every N-th step (learning curves)
    tb/              TensorBoard scalars: train/loss, val/loss, train/lr
    train.json       the config, the episode split, and the losses at each validation

With ``ema`` (the default) the checkpoints carry the exponential moving average of the weights
(``ema.py``), which is what validation, ``bc-ros eval`` and the policy node run; the raw weights
the optimizer works on are kept in train_state.pt.

The split is by episode (``split_episodes``), fixed by the seed. Training draws minibatches of
sample indices from a per-epoch permutation; under DDP each rank takes every N-th index of the same
permutation (torch's ``DistributedSampler``), so the ranks see disjoint samples, and DDP averages
gradients so every rank ends with the same weights. Rank 0 alone validates, saves and logs.
Everything random (weights, permutations, the stochastic heads' noise, image shifts) comes from the
seed, so a run repeats exactly on the same machine and thread count.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import numpy as np
import torch
from torch import distributed as dist

from bc_ros.core.data.augment import SideCameraConfig
from bc_ros.core.data.dataset import ConcatEpisodes, EpisodeDataset, split_episodes
from bc_ros.core.data.store import EpisodeStore
from bc_ros.core.policy.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from bc_ros.core.policy.encoders import EncoderConfig
from bc_ros.core.policy.policy import Policy, PolicyConfig
from bc_ros.core.train.config import TrainConfig
from bc_ros.core.train.ema import EMA

ROBOT_OF_STATE = {"odometry": "drone", "joint_state": "arm"}


# ---- distributed -----------------------------------------------------------------------------
def init_distributed() -> tuple[int, int]:
    """(rank, world size). Under torchrun (WORLD_SIZE set) joins the process group: NCCL when
    CUDA is there, gloo otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def batches(n_samples: int, batch_size: int, seed: int, rank: int, world: int, start_step: int):
    """Endless minibatches of sample indices for this rank, from ``start_step`` on: epoch e is a
    permutation seeded by (seed, e); rank r takes entries r, r+N, ... (DistributedSampler's
    scheme, padded by wrapping so every rank has the same number of batches)."""
    per_rank = math.ceil(n_samples / world)
    per_epoch = max(1, per_rank // batch_size)   # drop the last partial batch
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        perm = np.random.default_rng([seed, epoch]).permutation(n_samples)
        perm = np.resize(perm, per_rank * world)[rank::world]
        for b in range(skip, per_epoch):
            yield perm[b * batch_size:(b + 1) * batch_size]
        epoch, skip = epoch + 1, 0


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """DrQ-style augmentation: pad by replication, crop back at a random offset per sample.
    images (B, T, V, 3, H, W) uint8; one offset per sample, the same for its whole window.

    Replication padding then a crop at (dy, dx) reads row clamp(dy + i - pad) and column
    clamp(dx + j - pad) of the original, so each sample is two index_selects on uint8 (about 40x
    faster than gathering every pixel of a float copy with four index tensors, as this did)."""
    if pad == 0:
        return images
    B, T, V, C, H, W = images.shape
    x = images.reshape(B, T * V * C, H, W)
    dx = torch.randint(0, 2 * pad + 1, (B,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (B,), generator=generator)
    rows = (dy[:, None] + torch.arange(H)[None] - pad).clamp_(0, H - 1)              # (B, H)
    cols = (dx[:, None] + torch.arange(W)[None] - pad).clamp_(0, W - 1)              # (B, W)
    out = torch.stack([x[b].index_select(1, rows[b]).index_select(2, cols[b])
                       for b in range(B)])
    return out.reshape(B, T, V, C, H, W)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AMX or AVX512-BF16), where bf16 autocast
    halves the encoder's time; elsewhere it is emulated and slower than float32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The dtype of the training forward's autocast, None for plain float32."""
    if precision == "bf16" or (precision == "auto" and cpu_has_bf16()):
        return torch.bfloat16
    return None


def to_tensors(batch: dict) -> dict:
    keys = ("images", "state", "action", "action_mask", "goal")
    return {k: torch.as_tensor(batch[k]) for k in keys if k in batch}


# ---- the run ---------------------------------------------------------------------------------
def build_datasets(cfg: TrainConfig) -> tuple[EpisodeDataset, EpisodeDataset | None, dict]:
    """Train and validation datasets (split by episode) and the split itself."""
    side = SideCameraConfig(mode=cfg.side_camera, horizon=cfg.recovery_horizon)
    common = dict(n_obs_steps=cfg.n_obs_steps, horizon=cfg.horizon, side_camera=side,
                  cameras=cfg.cameras or None, successful_only=cfg.successful_only,
                  goal=cfg.goal, goal_state_indices=cfg.goal_state_indices or None,
                  goal_strategy=cfg.goal_strategy, goal_future_ticks=cfg.goal_future_ticks,
                  seed=cfg.seed)
    store = EpisodeStore(cfg.dataset)
    listed = [e["index"] for e in store.episodes
              if (not cfg.episodes or e["index"] in set(cfg.episodes))
              and (not cfg.successful_only or e.get("success"))]
    if not listed:
        raise ValueError(f"no episodes to train on in {cfg.dataset} (episodes={cfg.episodes}, "
                         f"successful_only={cfg.successful_only})")
    train_eps, val_eps = split_episodes(listed, cfg.val_fraction, cfg.seed)
    train = EpisodeDataset(cfg.dataset, episodes=train_eps, **common)
    val = EpisodeDataset(cfg.dataset, episodes=val_eps, **common) if val_eps else None
    if cfg.extra_datasets:       # all for training; label_control applies to these only
        extra = [EpisodeDataset(root, **{**common, "label_control": cfg.label_control or None,
                                         "label_context_ticks": cfg.label_context_ticks})
                 for root in cfg.extra_datasets]
        train = ConcatEpisodes([train, *extra])
    return train, val, {"train": train_eps, "val": val_eps}


def policy_config_for(cfg: TrainConfig, ds: EpisodeDataset) -> PolicyConfig:
    info = ds.info
    cameras = list(ds.cameras)
    if cfg.side_camera != "off":           # every camera's frame is a sample; at run time the
        cameras = ["center"] if "center" in cameras else cameras[:1]   # policy sees one view
    enc = {k: tuple(v) if k == "channels" else v for k, v in cfg.encoder.items()}
    state_dim = ds.state_dim if cfg.use_state else 0
    # the profile's name; datasets recorded before profiles: the sim of their state type
    robot = info.get("robot") or ROBOT_OF_STATE.get(info.get("state_type", ""), "")
    joints = list(info.get("joint_names") or [])
    state_names = (joints if joints and len(joints) == state_dim else
                   [f"{info.get('state_type', 'state')}_{i}" for i in range(state_dim)])
    tasks = sorted(ds.tasks)
    return PolicyConfig(head=cfg.head, head_options=cfg.head_options,
                        encoder=EncoderConfig(**enc), cameras=cameras,
                        image_size=tuple(info["image_size"]), state_dim=state_dim,
                        state_names=state_names,
                        robot_profile=dict(info.get("robot_profile") or {}),
                        action_names=list(info["action_names"]),
                        command_type=info.get("command_type", "twist"),
                        command_interface=info.get("command_interface", "velocity"),
                        goal_dim=ds.goal_dim, n_obs_steps=cfg.n_obs_steps,
                        horizon=cfg.horizon, n_action_steps=cfg.n_action_steps,
                        temporal_ensemble=cfg.temporal_ensemble,
                        chunk_candidates=cfg.chunk_candidates, robot=robot,
                        task=tasks[0] if len(tasks) == 1 else ",".join(tasks))


@torch.no_grad()
def validation_loss(policy: Policy, ds: EpisodeDataset, cfg: TrainConfig) -> float:
    """Mean loss over a fixed subset of validation samples, with fixed noise, in the
    training's precision."""
    dtype = autocast_dtype(cfg.precision)
    policy.eval()
    idx = np.random.default_rng([cfg.seed, 1]).permutation(len(ds))[:cfg.max_val_samples]
    total, count = 0.0, 0
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        for b in range(0, len(idx), 256):
            chunk = idx[b:b + 256]
            with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                total += float(policy(to_tensors(ds.get_batch(chunk)))) * len(chunk)
            count += len(chunk)
    policy.train()
    return total / count


def lr_lambda(cfg: TrainConfig):
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return f


def train(cfg: TrainConfig, on_batch=None) -> dict:
    """Run the training. ``on_batch(step, batch)`` (optional) sees every minibatch this process
    trains on. Returns a summary (rank 0's is complete; other ranks return theirs)."""
    owns_group = not dist.is_initialized()
    rank, world = init_distributed()
    try:
        return _train(cfg, on_batch, rank, world)
    finally:
        if owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _train(cfg: TrainConfig, on_batch, rank: int, world: int) -> dict:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)                 # identical initial weights on every rank
    train_ds, val_ds, split = build_datasets(cfg)
    pcfg = policy_config_for(cfg, train_ds)
    policy = Policy(pcfg)
    policy.normalizer.fit(train_ds.stats())
    optim = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda(cfg))
    history, step, best = [], 0, float("inf")
    last_path, best_path = os.path.join(cfg.out, "last.pt"), os.path.join(cfg.out, "best.pt")
    state_path = os.path.join(cfg.out, "train_state.pt")
    if cfg.resume:
        step, best, history = _resume(policy, optim, sched, cfg, last_path, state_path)
    elif cfg.init_checkpoint:
        _init_from(policy, cfg.init_checkpoint)
    ema = None
    if cfg.ema:
        ema = EMA(policy, power=cfg.ema_power, max_decay=cfg.ema_max_decay)
        if cfg.resume:
            _resume_ema(ema, state_path)
    deployed = ema.model if ema is not None else policy    # what is validated and saved
    model = torch.nn.parallel.DistributedDataParallel(policy) if world > 1 else policy
    gen = torch.Generator()
    amp = autocast_dtype(cfg.precision)

    writer = None
    if rank == 0:
        os.makedirs(cfg.out, exist_ok=True)
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(os.path.join(cfg.out, "tb"), purge_step=step or None)
    bar = None
    if rank == 0 and cfg.progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.head}", unit="step",
                   dynamic_ncols=True)

    def save(path, val_loss):
        save_checkpoint(deployed, path, extra={"step": step, "val_loss": val_loss,
                                             "seconds": time.perf_counter() - t0,
                                             "dataset": os.path.abspath(cfg.dataset),
                                             "split": split, "train_config":
                                                 dataclasses.asdict(cfg)})

    policy.train()
    t0, samples, loss_sum, loss_n = time.perf_counter(), 0, 0.0, 0
    source = batches(len(train_ds), cfg.batch_size, cfg.seed, rank, world, step)
    while step < cfg.steps:
        idx = next(source)
        arrays = train_ds.get_batch(idx)
        if on_batch is not None:
            on_batch(step, arrays)
        batch = to_tensors(arrays)
        gen.manual_seed((cfg.seed * 1_000_003 + step) * world + rank)  # resumable noise
        batch["images"] = random_shift(batch["images"], cfg.random_shift, gen)
        with torch.random.fork_rng():
            torch.manual_seed((cfg.seed * 7919 + step) * world + rank)   # the heads' noise
            with torch.autocast("cpu", dtype=amp or torch.bfloat16, enabled=amp is not None):
                loss = model(batch)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
        optim.step()
        sched.step()
        if ema is not None:
            ema.update(policy)
        step += 1
        samples += len(idx)
        loss_sum, loss_n = loss_sum + float(loss.detach()), loss_n + 1
        if rank != 0:
            continue
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        writer.add_scalar("train/loss", float(loss.detach()), step)
        writer.add_scalar("train/lr", sched.get_last_lr()[0], step)
        if step % cfg.val_every == 0 or step == cfg.steps:
            val = validation_loss(deployed, val_ds, cfg) if val_ds is not None else None
            entry = {"step": step, "train_loss": loss_sum / loss_n, "val_loss": val,
                     "seconds": time.perf_counter() - t0}
            history.append(entry)
            loss_sum, loss_n = 0.0, 0
            if val is not None:
                writer.add_scalar("val/loss", val, step)
            score = val if val is not None else entry["train_loss"]
            if score < best:
                best = score
                save(best_path, val)
        if cfg.keep_every and step % cfg.keep_every == 0:
            save(os.path.join(cfg.out, f"step_{step:07d}.pt"),
                 history[-1]["val_loss"] if history else None)
        if step % cfg.save_every == 0 or step == cfg.steps:
            save(last_path, history[-1]["val_loss"] if history else None)
            torch.save({"optimizer": optim.state_dict(), "scheduler": sched.state_dict(),
                        "step": step, "best": best, "history": json.dumps(history),
                        "model": policy.state_dict(),
                        **({"ema": ema.state_dict()} if ema is not None else {})},
                       state_path + ".tmp")
            os.replace(state_path + ".tmp", state_path)
    seconds = time.perf_counter() - t0
    summary = {"rank": rank, "world_size": world, "steps": step, "seconds": seconds,
               "samples_per_s": samples * world / seconds if seconds > 0 else None,
               "train_samples": len(train_ds), "val_samples": len(val_ds) if val_ds else 0,
               "split": split, "history": history, "best_score": best,
               "best": best_path, "last": last_path, "head": cfg.head,
               "ema": cfg.ema, "precision": str(amp or torch.float32).replace("torch.", ""),
               "weights_sha256": weights_digest(deployed)}
    if rank == 0:
        bar is not None and bar.close()
        writer.close()
        with open(os.path.join(cfg.out, "train.json.tmp"), "w") as f:
            json.dump({"config": dataclasses.asdict(cfg), **summary}, f, indent=1)
        os.replace(os.path.join(cfg.out, "train.json.tmp"), os.path.join(cfg.out, "train.json"))
    return summary


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer: equal on every DDP rank after a correct run."""
    import hashlib
    h = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# What must agree for a checkpoint's weights to mean the same in this model (inference options
# such as n_action_steps or temporal_ensemble may differ).
MODEL_KEYS = ("head", "head_options", "encoder", "cameras", "image_size", "state_dim",
              "action_names", "goal_dim", "n_obs_steps", "horizon")


def _init_from(policy, path: str) -> None:
    """Fine-tuning: the weights and normalizer of ``path`` (so step 0 is that policy)."""
    payload = read_checkpoint(path)
    mine = policy.config.to_dict()
    theirs = payload["config"]
    diffs = [f"{k}: checkpoint has {theirs.get(k)!r}, this run builds {mine[k]!r}"
             for k in MODEL_KEYS if _plain(theirs.get(k)) != _plain(mine[k])]
    if diffs:
        raise CheckpointError(f"cannot fine-tune from {path}: " + "; ".join(diffs))
    policy.load_state_dict(payload["state_dict"])


def _plain(v):
    """JSON-comparable: tuples as lists, recursively."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return [_plain(x) for x in v] if isinstance(v, (list, tuple)) else v


def _resume(policy, optim, sched, cfg, last_path, state_path):
    if not (os.path.exists(last_path) and os.path.exists(state_path)):
        raise CheckpointError(f"cannot resume: {cfg.out} lacks last.pt or train_state.pt "
                              f"(start without --resume)")
    payload = read_checkpoint(last_path)
    try:
        policy.load_state_dict(payload["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"cannot resume from {last_path}: it was trained with another "
                              f"model configuration ({e})") from None
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    if "model" in state:      # last.pt holds the EMA; the optimizer continues the raw weights
        policy.load_state_dict(state["model"])
    optim.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    return int(state["step"]), float(state["best"]), json.loads(state["history"])


def _resume_ema(ema: EMA, state_path: str) -> None:
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    if "ema" not in state:
        raise CheckpointError(f"cannot resume with ema from {state_path}: that run was trained "
                              f"without it (resume with ema: false)")
    ema.load_state_dict(state["ema"])
