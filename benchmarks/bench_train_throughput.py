"""Training samples/s of one optimizer step, side by side in one run: what each change costs.

    python benchmarks/bench_train_throughput.py                 # one torch thread
    python benchmarks/bench_train_throughput.py --threads 2 --json docs/figures/train_throughput.json

A step is what the trainer does per minibatch of 64: image augmentation (random shift of 4 px),
forward (encoder + head loss), backward, AdamW step; the batch is synthetic (uint8 noise images,
normal state and actions) of the shapes a task trains on, so the figures need no dataset. Rows:

- ``before``: float32 and the random shift as it was (a float copy gathered with four index
  tensors), the trainer's step until this change;
- ``shift``: the random shift by two index_selects on uint8 (``trainer.random_shift``);
- ``bf16``: plus the encoder under bf16 autocast (``precision: bf16``; AMX/AVX512-BF16 CPUs);
- observation variants on top of ``bf16``: one camera or three, one frame of history or two,
  a wider encoder, the UNet denoiser.

Median of ``--steps`` timed steps after ``--warmup``; every row runs in this process one after
another, so they share the machine's state.
"""

from __future__ import annotations

import argparse
import statistics
import time

from figures import write_json


def old_random_shift(images, pad, generator):
    """The trainer's random shift before this change, kept as the reference ``before`` row."""
    import torch

    B, T, V, C, H, W = images.shape
    x = images.reshape(B, T * V * C, H, W).float()
    x = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (B,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (B,), generator=generator)
    rows = (dy[:, None] + torch.arange(H)[None])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(W)[None])[:, None, None, :]
    out = x[torch.arange(B)[:, None, None, None], torch.arange(T * V * C)[None, :, None, None],
            rows, cols]
    return out.to(torch.uint8).reshape(B, T, V, C, H, W)


def step_time(head: str, views: int, state_dim: int, n_obs: int, shift, bf16: bool,
              args, head_options=None, encoder=None) -> float:
    import numpy as np
    import torch

    from bc_ros.core.data.stats import feature_stats
    from bc_ros.core.policy.policy import Policy, PolicyConfig

    torch.manual_seed(0)
    cameras = ["left", "center", "right"][:views] if views > 1 else ["center"]
    policy = Policy(PolicyConfig(head=head, head_options=head_options or {},
                                 encoder=encoder or {}, cameras=cameras,
                                 state_dim=state_dim, action_names=["vx", "vy", "vz"],
                                 n_obs_steps=n_obs, horizon=16, n_action_steps=8))
    rng = np.random.default_rng(0)
    stats = {"action": feature_stats(rng.normal(0, 1, (500, 3)))}
    if state_dim:
        stats["state"] = feature_stats(rng.normal(0, 1, (500, state_dim)))
    policy.normalizer.fit(stats)
    optim = torch.optim.AdamW(policy.parameters(), lr=1e-3)
    B = args.batch
    batch = {"images": torch.randint(0, 256, (B, n_obs, views, 3, 96, 96), dtype=torch.uint8),
             "action": torch.randn(B, 16, 3), "action_mask": torch.ones(B, 16, dtype=torch.bool)}
    if state_dim:
        batch["state"] = torch.randn(B, n_obs, state_dim)
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        b = dict(batch, images=shift(batch["images"], 4, gen))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = policy(b)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    import torch

    from bc_ros.core.train.trainer import cpu_has_bf16, random_shift

    torch.set_num_threads(args.threads)
    # (task shape, views, state_dim): bypass trains on camera images only, reach_around on
    # three cameras and the 12-value joint state
    tasks = {"bypass (1 camera)": (1, 0), "reach_around (3 cameras + state)": (3, 12)}
    rows = []

    def row(task, name, head="mog", views=None, state=None, n_obs=2, shift=random_shift,
            bf16=True, **kw):
        v, s = tasks[task]
        seconds = step_time(head, v if views is None else views, s if state is None else state,
                            n_obs, shift, bf16, args, **kw)
        rows.append({"task": task, "row": name, "head": head, "step_ms": 1000 * seconds,
                     "samples_per_s": args.batch / seconds})
        print(f"{task:34s} {name:34s} {1000 * seconds:7.1f} ms/step "
              f"{args.batch / seconds:6.0f} samples/s", flush=True)

    for task in tasks:
        row(task, "before (fp32, old shift)", shift=old_random_shift, bf16=False)
        row(task, "shift (fp32)", bf16=False)
        row(task, "bf16 (the default where supported)")
    task = "reach_around (3 cameras + state)"
    row(task, "bf16, 1 frame of history", n_obs=1)
    row(task, "bf16, centre camera only", views=1)
    row(task, "bf16, encoder (32, 64, 64)", encoder={"channels": [32, 64, 64]})
    row(task, "bf16, diffusion mlp", head="diffusion")
    row(task, "bf16, diffusion unet", head="diffusion", head_options={"denoiser": "unet"})
    row(task, "bf16, cvae", head="cvae")
    row(task, "bf16, ar", head="ar")
    by = {(r["task"], r["row"]): r["samples_per_s"] for r in rows}
    ratios = {t: by[(t, "bf16 (the default where supported)")] / by[(t, "before (fp32, old shift)")]
              for t in tasks}
    for t, r in ratios.items():
        print(f"{t}: {r:.2f}x the samples/s of before")
    write_json(args.json, {"threads": args.threads, "batch": args.batch,
                           "cpu_has_bf16": cpu_has_bf16(), "rows": rows,
                           "speedup_over_before": ratios,
                           "command": "python benchmarks/bench_train_throughput.py "
                                      f"--threads {args.threads}"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
