"""Loader throughput: random minibatches of 64 samples, three 96x96 cameras.

    python benchmarks/bench_loader.py [--episodes 50] [--length 200] [--batches 200] [--json F]

Builds a synthetic dataset with the episode store (random images, so nothing compresses), then
measures side by side in one run, as medians over batches:
  load        reading every episode into memory from the page cache (EpisodeDataset init)
  per-sample  torch DataLoader, batch 64, __getitem__ per sample + default collate
  batched     torch DataLoader over a BatchSampler: one vectorized get_batch per 64 samples
  h5-random   64 random rows straight from the HDF5 files (no in-memory copy), for reference
Goal: >= 20k samples/s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

from figures import write_json


def build(root: str, episodes: int, length: int) -> None:
    from bc_ros.core.data.recording import RecorderConfig
    from bc_ros.core.data.store import EpisodeStore

    cfg = RecorderConfig(dataset=root, record_executed=False)
    store = EpisodeStore(root, cfg.features(), info=cfg.dataset_info())
    rng = np.random.default_rng(0)
    n = len(cfg.streams)
    frames = rng.integers(0, 256, (16, 96, 96, 3), dtype=np.uint8)
    for e in range(episodes):
        w = store.begin({"task": "trail"}, flush_every=1000)
        for t in range(length):
            row = {f"image_{c}": frames[(t + i) % 16] for i, c in enumerate(cfg.cameras)}
            row.update(state=rng.normal(size=8).astype(np.float32),
                       action=rng.normal(size=4).astype(np.float32), time=t * 0.1,
                       stamps=np.zeros(n), skew=np.zeros(n, np.float32),
                       flags=np.zeros(n, np.uint8))
            w.append(row)
        w.finish(True)


def rate(fn, batches: int, batch_size: int) -> float:
    times = []
    for _ in range(batches):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return batch_size / statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    import h5py
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler

    from bc_ros.core.data.dataset import EpisodeDataset

    torch.manual_seed(0)
    root = tempfile.mkdtemp(prefix="bench_loader_")
    t0 = time.perf_counter()
    build(root, args.episodes, args.length)
    build_s = time.perf_counter() - t0
    EpisodeDataset(root)  # warm the page cache
    t0 = time.perf_counter()
    ds = EpisodeDataset(root, n_obs_steps=1, horizon=1)
    load_s = time.perf_counter() - t0
    bs = args.batch_size

    per_sample = iter(DataLoader(ds, batch_size=bs, shuffle=True, num_workers=0))
    batched = iter(DataLoader(ds, sampler=BatchSampler(RandomSampler(ds), bs, False),
                              batch_size=None, num_workers=0))

    def next_of(it):
        return lambda: next(it)

    files = [h5py.File(ds.store.episode_path(i), "r") for i in ds.episode_indices]
    rng = np.random.default_rng(1)

    def h5_random():
        for _ in range(bs):
            f = files[rng.integers(len(files))]
            t = int(rng.integers(args.length))
            for c in ds.cameras:
                f[f"image_{c}"][t]
            f["action"][t]
            f["state"][t]

    n = min(args.batches, len(ds) // bs)
    result = {"samples": len(ds), "episodes": args.episodes, "batch_size": bs,
              "build_s": round(build_s, 2), "load_s": round(load_s, 2),
              "load_samples_per_s": round(len(ds) / load_s),
              "per_sample_samples_per_s": round(rate(next_of(per_sample), n, bs)),
              "batched_samples_per_s": round(rate(next_of(batched), n, bs)),
              "h5_random_samples_per_s": round(rate(h5_random, min(n, 50), bs))}
    print(f"loader, {len(ds)} samples of 3 x 96x96: load into memory {result['load_s']} s "
          f"({result['load_samples_per_s']} samples/s from the page cache); random batches of "
          f"{bs}: per-sample {result['per_sample_samples_per_s']} samples/s, batched "
          f"{result['batched_samples_per_s']} samples/s, HDF5 random rows "
          f"{result['h5_random_samples_per_s']} samples/s (medians)")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
