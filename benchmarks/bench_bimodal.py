"""The 2-D bimodal toy for every head: fraction of samples near one of the two modes.

    python benchmarks/bench_bimodal.py [--steps 1500] [--json F]

Half the demonstrations go left of a point, half right (bc_ros.core.policy.toy). The Gaussian
head should land between the modes; MoG, diffusion, AR and CVAE should put >= 90 % of their
samples near a mode, both modes used.
"""

from __future__ import annotations

import argparse
import time

from bc_ros.core.policy.heads import HEADS
from bc_ros.core.policy.toy import mode_fraction, train_toy

from figures import write_json


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    results = []
    for head in sorted(HEADS):
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            encoder, model = train_toy(head, steps=args.steps, seed=seed)
            r = mode_fraction(encoder, model)
            r.update(head=head, seed=seed, train_s=round(time.perf_counter() - t0, 1))
            results.append(r)
            print(f"{head:10s} seed {seed}: {100 * r['near_a_mode']:5.1f} % near a mode "
                  f"(left {100 * r['left']:.0f} %, right {100 * r['right']:.0f} %), mean "
                  f"|lateral| {r['mean_abs_lateral']:.2f} (modes at 0.8), trained in "
                  f"{r['train_s']} s", flush=True)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
