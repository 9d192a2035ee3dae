"""The plot of a DAgger run's rounds (``<out>/dagger.png``)."""

from __future__ import annotations

def plot_rounds(summary: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    rounds = summary["rounds"]
    xs = [m["round"] for m in rounds]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ys = [None if m["success_rate"] is None else 100 * m["success_rate"] for m in rounds]
    ax.plot(xs, ys, "o-", label="held-out success")
    ax.set_xlabel("DAgger round (0 = BC on demonstrations)")
    ax.set_title(f"gating: {summary.get('gating', 'beta')}", fontsize=9)
    ax.set_ylabel("success (%)")
    ax.set_ylim(0, 105)
    ax2 = ax.twinx()
    ax2.bar(xs, [m["dataset_size"] for m in rounds], alpha=0.2, color="gray")
    ax2.set_ylabel("dataset ticks")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
