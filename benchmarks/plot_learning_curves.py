"""Success against training time, per head, on both multimodal tasks, in one figure.

    python benchmarks/plot_learning_curves.py      # docs/figures/learning_curves.png + .json

Reads the final results of ``docs/figures/sim_reach.json`` and ``sim_bypass.json`` (what
``learning_tables.py`` assembled from the ``bench_learning.py`` runs): each row's curve (its
kept checkpoints on 30-50 held-out seeds, at the training minutes they were saved) and its last
checkpoint on 100 held-out seeds. A head's rows of earlier recipes ("200 demonstrations", another
run-time choice) are left out where it has a row of the current one. Nothing is evaluated
again.
"""

from __future__ import annotations

import argparse
import json
import os

from figures import write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES = os.path.join(ROOT, "docs", "figures")
TASKS = {"reach_around": "sim_reach.json", "bypass": "sim_bypass.json"}
EARLIER = ("200 demonstrations", "8 executed", "sampled component", "noise prediction",
           "10 DDIM steps")


def curves(path: str) -> list[dict]:
    with open(path) as f:
        results = json.load(f)["results"]
    def earlier(r):
        return any(mark in r.get("label", "") for mark in EARLIER)

    current = {r["head"] for r in results if not earlier(r)}
    out = []
    for r in results:
        if earlier(r) and (r["head"] in current
                           or any(o["head"] == r["head"] for o in out)):
            continue
        points = [{"minutes": round(c["minutes"], 2), "success_rate": c["success_rate"],
                   "episodes": c["episodes"]} for c in r.get("curve", [])]
        out.append({"label": r.get("label", r["head"]), "head": r["head"], "curve": points,
                    "final": {"minutes": round(r["train_seconds"] / 60, 2),
                              "success_rate": r["success_rate"], "episodes": r["episodes"]}})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(FIGURES, "learning_curves.png"))
    args = parser.parse_args()
    data = {task: curves(os.path.join(FIGURES, name)) for task, name in TASKS.items()}
    write_json(args.out[:-4] + ".json", data, indent=1)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, (task, rows) in zip(axes, data.items()):
        for row in rows:
            xs = [p["minutes"] for p in row["curve"]]
            ys = [100 * p["success_rate"] for p in row["curve"]]
            line, = ax.plot(xs, ys, marker="o", label=row["label"])
            f = row["final"]
            ax.plot([f["minutes"]], [100 * f["success_rate"]], marker="*", markersize=12,
                    color=line.get_color(), linestyle="none")
        ax.axhline(90, color="grey", linestyle=":", linewidth=1)
        ax.axvline(30, color="grey", linestyle=":", linewidth=1)
        ax.set_title(task)
        ax.set_xlabel("training minutes (2-core CPU, shared)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("success on held-out seeds (%)")
    axes[0].set_ylim(0, 102)
    fig.suptitle("o: checkpoints on 30-50 held-out seeds; *: the last on 100; dotted: 90 % and "
                 "30 min", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
