"""The round loop of ``bc-ros dagger``: round 0, then collect, label, retrain, swap, evaluate."""

from __future__ import annotations

import dataclasses
import json
import os
import time

from bc_ros.sessions.dagger.config import CONTROL_EXPERT, DaggerRunConfig
from bc_ros.sessions.dagger.graph import Graph
from bc_ros.sessions.dagger.report import plot_rounds
from bc_ros.sessions.dagger.training import (calibrate, command_limits, evaluate_checkpoint,
                                             train_round)

def run_dagger(cfg: DaggerRunConfig, progress=print) -> dict:
    from bc_ros.core.dagger.rounds import RoundLog, RoundMetrics
    from bc_ros.core.data.store import EpisodeStore

    os.makedirs(cfg.out, exist_ok=True)
    dataset = os.path.join(cfg.out, "dagger_data")
    log = RoundLog(os.path.join(cfg.out, "rounds.json"))
    t0 = time.perf_counter()
    low, high, _ = command_limits(cfg)
    checkpoints = [cfg.initial_checkpoint] if cfg.initial_checkpoint else None
    timings: dict[str, dict] = {"0": {}}
    if checkpoints is None:
        what = f"an ensemble of {cfg.members}" if cfg.members > 1 else "behavioral cloning"
        progress(f"round 0: {what} on the demonstrations")
        checkpoints, train_log = train_round(cfg, 0, [])
        if checkpoints is None:
            raise RuntimeError(f"round 0 training failed; see {train_log}")
        timings["0"]["train_s"] = time.perf_counter() - t0
    calibrations: dict[str, dict] = {}
    threshold = None
    if cfg.gating == "uncertainty":
        calibrations["0"] = calibration = calibrate(cfg, checkpoints, low, high)
        threshold = calibration["threshold"]
        progress(f"round 0: threshold {threshold:.4g} ({100 * cfg.target_request_rate:g} % of "
                 f"{calibration['ticks']} held-out demo ticks above it)")
    evals = {0: evaluate_checkpoint(checkpoints[0], cfg)}
    used = cfg.train.get("episodes") or None       # the demos round 0 trains on
    demo_ticks = sum(e["length"] for e in EpisodeStore(cfg.demos).episodes
                     if used is None or e["index"] in used)
    log.append(RoundMetrics(round=0, episodes=0, success_rate=_rate(evals[0]),
                            expert_labels_added=demo_ticks, interventions_per_episode=0.0,
                            requests_per_episode=0.0, autonomous_fraction=0.0,
                            context_switches=0, dataset_size=demo_ticks,
                            wall_time_s=time.perf_counter() - t0, mode=cfg.gating))
    log.write()
    progress(f"round 0: held-out success {_fmt(evals[0])}")
    graph = Graph(cfg, checkpoints, dataset, threshold)
    labels_total = 0
    try:
        for r in range(1, cfg.rounds + 1):
            t_round = time.perf_counter()
            timing = timings[str(r)] = {}
            graph.set_round(r)
            how = {"beta": f"beta {graph.dagger.config.schedule()(r):.2f}",
                   "uncertainty": f"threshold {threshold:.4g}" if threshold is not None else "",
                   "human": "simulated human"}[cfg.gating]
            progress(f"round {r}: collecting {cfg.episodes_per_round} episodes ({how})")
            n_status = len(graph.statuses)
            outcomes = graph.run_episodes(cfg.episodes_per_round, first=r == 1)
            ended = lambda: [s for s in graph.statuses[n_status:]  # noqa: E731
                             if s.get("reason") == "outcome"]
            graph.spin_until(lambda: len(ended()) >= len(outcomes), 30.0)
            stats = [s["stats"] for s in ended()][-len(outcomes):]
            if len(stats) != len(outcomes):
                raise RuntimeError(f"dagger_node reported {len(stats)} episode ends for "
                                   f"{len(outcomes)} sim outcomes")
            timing["collect_s"] = time.perf_counter() - t_round
            store = EpisodeStore(dataset)
            added = [e for e in store.episodes if e.get("round") == r]
            labels = _labelled_ticks(cfg, store, added)
            labels_total += labels
            progress(f"round {r}: {sum(o['success'] for o in outcomes)}/{len(outcomes)} "
                     f"collection episodes succeeded, +{labels} labels; retraining")
            t = time.perf_counter()
            new, train_log = train_round(cfg, r, [dataset],
                                         checkpoints if cfg.retrain == "finetune" else None)
            timing["train_s"] = time.perf_counter() - t
            t = time.perf_counter()
            swapped, why = (False, f"training failed (see {train_log})") if new is None \
                else graph.hot_swap(new)
            timing["swap_s"] = time.perf_counter() - t
            collected_with = threshold
            if swapped:
                checkpoints = new
                if cfg.gating == "uncertainty":
                    calibrations[str(r)] = calibration = calibrate(cfg, checkpoints, low, high)
                    threshold = calibration["threshold"]
                    graph.set_threshold(threshold)
                    timing["calibrate_s"] = calibration["seconds"]
            else:
                progress(f"round {r}: keeping the previous policy: {why}")
            timing["round_s"] = time.perf_counter() - t_round     # collect .. ready for r + 1
            t = time.perf_counter()
            evals[r] = evaluate_checkpoint(checkpoints[0], cfg) if swapped else evals[r - 1]
            timing["eval_s"] = time.perf_counter() - t
            metrics = RoundMetrics.from_episodes(
                r, [_stats(s) for s in stats], [bool(o["success"]) for o in outcomes],
                dataset_size=demo_ticks + labels_total,
                wall_time_s=time.perf_counter() - t_round,
                beta=graph.dagger.config.schedule()(r) if cfg.gating == "beta" else None,
                mode=cfg.gating, threshold=collected_with)
            metrics.success_rate = _rate(evals[r])   # the round's policy, on held-out seeds
            metrics.expert_labels_added = labels
            log.append(metrics)
            log.write()
            asked = {"beta": "", "human": f"; {metrics.interventions_per_episode:.1f} "
                                          f"interventions/episode",
                     "uncertainty": f"; {metrics.requests_per_episode:.1f} requests/episode, "
                                    f"request rate {_pct(metrics.request_rate)}"}[cfg.gating]
            progress(f"round {r}: held-out success {_fmt(evals[r])}; +{labels} labels; "
                     f"{100 * metrics.autonomous_fraction:.0f} % autonomous{asked}; "
                     f"{metrics.wall_time_s:.0f} s" + ("" if swapped else " (not swapped)"))
    finally:
        graph.close()
    summary = {"gating": cfg.gating, "rounds": [dataclasses.asdict(m) for m in log.rounds],
               "evals": {str(k): v for k, v in evals.items()}, "checkpoint": checkpoints[0],
               "ensemble": checkpoints[1:], "calibrations": calibrations, "timings": timings,
               "seconds": time.perf_counter() - t0}
    with open(os.path.join(cfg.out, "dagger.json"), "w") as f:
        json.dump(summary, f, indent=1)
    plot_rounds(summary, os.path.join(cfg.out, "dagger.png"))
    return summary


def _labelled_ticks(cfg: DaggerRunConfig, store, episodes: list[dict]) -> int:
    """Expert labels the episodes add to training: every tick with beta (as ever); else the
    ticks the trainer keeps (the expert's, plus the context windows)."""
    if cfg.gating == "beta":
        return sum(e["length"] for e in episodes)
    from bc_ros.core.data.control import context_from_control
    total = 0
    for e in episodes:
        control = store.read(e["index"], ["control"])["control"]
        keep = control == CONTROL_EXPERT
        if cfg.context_ticks:
            keep |= context_from_control(control, cfg.context_ticks)
        total += int(keep.sum())
    return total


def _pct(value):
    return "-" if value is None else f"{100 * value:.0f} %"


def _rate(result):
    return None if result is None else result["success_rate"]


def _fmt(result):
    if result is None:
        return "not evaluated"
    lo, hi = result["ci95"]
    return f"{result['successes']}/{result['episodes']} (95 % CI {100 * lo:.0f}-{100 * hi:.0f} %)"


def _stats(d: dict):
    from bc_ros.core.dagger.mux import MuxStats
    fields = {f.name for f in dataclasses.fields(MuxStats)}
    return MuxStats(**{k: v for k, v in d.items() if k in fields})
