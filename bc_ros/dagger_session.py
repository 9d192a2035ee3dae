"""``bc-ros dagger``: unattended DAgger rounds in a sim, over ROS 2.

One process, one executor, five nodes that talk over topics exactly as separate processes would:

    sim_node (lockstep, /clock) --cameras, odom, expert/cmd--> policy_node (lockstep)
    policy_node --policy/cmd--> dagger_node (trigger=inputs) --cmd--> sim_node
    dagger_node --dagger/control--> recorder_node (record_control) <-- everything else

Round 0 is behavioral cloning on the expert demonstrations. Each round r >= 1:

1. the policy of round r-1 drives: ``dagger_node`` executes the expert's command with probability
   beta_r (the schedule), else the policy's, while the recorder stores the expert's command at
   every visited state as the label (classic DAgger, Ross et al. 2011), tagged source=dagger,
   round=r, and who was in control per tick;
2. a ``bc-ros train`` process retrains from scratch on the demonstrations plus every round's
   data (aggregation); the graph waits, the sim idles in lockstep;
3. the new checkpoint is hot-swapped into the running policy node (``~/load_checkpoint``); a
   failed retrain or load keeps the old policy and the round says so;
4. the round's policy is evaluated on held-out seeds without ROS (``bc-ros eval``'s code path).

Per-round metrics go to ``<out>/rounds.json`` (``RoundLog``) and a plot ``<out>/dagger.png``.
Everything runs on sim time, so the result does not depend on the machine's speed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

from bc_ros.core.config import field


@dataclasses.dataclass
class DaggerRunConfig:
    robot: str = field("drone", "Sim robot.")
    task: str = field("trail", "Sim task.")
    demos: str = field("", "Episode store of expert demonstrations (round 0 trains on it).")
    out: str = field("runs/dagger", "Run folder: rounds' data, checkpoints, rounds.json, plot.")
    rounds: int = field(3, "DAgger rounds after round 0.")
    episodes_per_round: int = field(10, "Episodes collected per round.")
    beta_schedule: str = field("constant", "constant | linear | exponential (dagger_node).")
    beta: float = field(0.0, "Constant schedule: probability that the expert's command runs.")
    beta_start: float = field(1.0, "Linear/exponential schedules: beta at round 0.")
    beta_end: float = field(0.0, "Linear schedule: final beta.")
    beta_rounds: int = field(3, "Linear schedule: rounds to reach beta_end.")
    beta_decay: float = field(0.5, "Exponential schedule: factor per round.")
    seed: int = field(0, "Seed of the collection worlds (training seeds from 100000 + "
                         "1000 * seed) and of the beta draws.")
    eval_episodes: int = field(20, "Held-out seeds per round's evaluation (0: skip).")
    train: dict = field(None, "TrainConfig fields for every round (head, steps, cameras, ...).")
    image_size: list = field([96, 96], "Camera width and height (the demos' size).")
    initial_checkpoint: str = field("", "Start from this policy instead of training round 0.")

    def __post_init__(self):
        self.train = dict(self.train or {})
        if not self.demos:
            raise ValueError("demos is required: the expert demonstrations' episode store")
        if self.rounds < 1 or self.episodes_per_round < 1:
            raise ValueError(f"rounds and episodes_per_round must be >= 1, got {self.rounds=} "
                             f"{self.episodes_per_round=}")


def train_round(cfg: DaggerRunConfig, r: int, extra: list[str]) -> tuple[str | None, str]:
    """Retrain in a separate process (``bc-ros train``), from scratch on demos + rounds' data.
    Returns (checkpoint or None, log path)."""
    out = os.path.join(cfg.out, f"round_{r}")
    values = {"dataset": cfg.demos, "out": out, "extra_datasets": extra, "progress": False,
              **cfg.train}
    os.makedirs(out, exist_ok=True)
    config_path = os.path.join(out, "train_config.json")   # YAML is a superset of JSON
    with open(config_path, "w") as f:
        json.dump(values, f)
    log = os.path.join(out, "train.log")
    with open(log, "w") as f:
        proc = subprocess.run([sys.executable, "-m", "bc_ros.cli", "train", "--config",
                               config_path], stdout=f, stderr=subprocess.STDOUT)
    ckpt = os.path.join(out, "last.pt")
    return (ckpt if proc.returncode == 0 and os.path.exists(ckpt) else None), log


def evaluate_checkpoint(path: str, cfg: DaggerRunConfig) -> dict | None:
    if cfg.eval_episodes <= 0:
        return None
    import torch

    from bc_ros.core.policy.checkpoint import load_checkpoint
    from bc_ros.core.sim.base import eval_seeds
    from bc_ros.core.train.evaluate import evaluate

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        policy, _ = load_checkpoint(path)
        result = evaluate(policy, cfg.robot, cfg.task, seeds=eval_seeds(cfg.eval_episodes))
    finally:
        torch.set_num_threads(threads)
    return {k: v for k, v in result.items() if k != "records"}


class Graph:
    """The five nodes on one executor, and the orchestrator's service calls into them."""

    def __init__(self, cfg: DaggerRunConfig, checkpoint: str, dataset: str):
        import rclpy
        from rclpy.parameter import Parameter
        from std_msgs.msg import String

        from bc_ros.core.sim import make_env
        from bc_ros.nodes.dagger_node import DaggerNode
        from bc_ros.nodes.policy_node import PolicyNode
        from bc_ros.nodes.recorder_node import RecorderNode
        from bc_ros.nodes.runtime import make_executor
        from bc_ros.nodes.sim_node import SimNode
        from bc_ros.recording_session import recorder_overrides_for

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        sim_time = [Parameter("use_sim_time", value=True)]
        env = make_env(cfg.robot, cfg.task, image_size=tuple(cfg.image_size))
        low, high, names = list(env.action_low), list(env.action_high), list(env.action_names)
        rec = recorder_overrides_for(cfg.robot, cfg.task, dataset, tuple(cfg.image_size), env)
        env.close()
        rec.update(record_control=True, auto_start=True, source="dagger", round=1)
        kw = {"context": self.context}
        self.recorder = RecorderNode(rec, parameter_overrides=sim_time, **kw)
        self.policy = PolicyNode({"checkpoint": checkpoint, "mode": "lockstep",
                                  "command_type": "twist_stamped", "low": low, "high": high,
                                  "torch_threads": 1}, parameter_overrides=sim_time, **kw)
        beta = {k: getattr(cfg, k) for k in ("beta_schedule", "beta", "beta_start", "beta_end",
                                             "beta_rounds", "beta_decay")}
        self.dagger = DaggerNode({"mode": "beta", "round": 1, "trigger": "inputs",
                                  "wait_for_expert": True, "command_type": "twist_stamped",
                                  "action_names": names, "stop_command": [0.0] * len(names),
                                  "seed": cfg.seed, **beta}, parameter_overrides=sim_time, **kw)
        self.sim = SimNode({"robot": cfg.robot, "task": cfg.task,
                            "seed": 100_000 + 1000 * cfg.seed, "mode": "lockstep",
                            "publish_clock": True, "auto_reset": False,
                            "command_type": "twist_stamped", "image_width": cfg.image_size[0],
                            "image_height": cfg.image_size[1], "wait_for_subscribers": 1}, **kw)
        self.client = rclpy.create_node("dagger_rounds", **kw)
        self.outcomes: list[dict] = []
        self.statuses: list[dict] = []
        self.client.create_subscription(String, "sim/outcome",
                                        lambda m: self.outcomes.append(json.loads(m.data)), 10)
        self.client.create_subscription(String, "dagger/status",
                                        lambda m: self.statuses.append(json.loads(m.data)), 10)
        self.executor = make_executor(self.context)
        for node in (self.recorder, self.policy, self.dagger, self.sim, self.client):
            self.executor.add_node(node)

    def spin_until(self, predicate, timeout: float = 600.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=0.05)
        return True

    def call(self, node_name: str, srv: str, srv_type, request, timeout: float = 60.0):
        cli = self.client.create_client(srv_type, f"/{node_name}/{srv}")
        try:
            if not self.spin_until(lambda: cli.service_is_ready(), timeout):
                raise RuntimeError(f"service /{node_name}/{srv} did not appear")
            future = cli.call_async(request)
            if not self.spin_until(future.done, timeout):
                raise RuntimeError(f"service /{node_name}/{srv} did not answer in {timeout} s")
            return future.result()
        finally:
            self.client.destroy_client(cli)

    def set_round(self, r: int) -> None:
        """The next episodes belong to round r: the mux's beta and the recorder's tag. The
        recorder already opened the next episode (empty: the sim idles) under the old tag, so
        it is reopened at the same instant under the new one."""
        from rclpy.parameter import Parameter
        self.dagger.set_parameters([Parameter("round", value=r)])
        self.recorder.set_parameters([Parameter("round", value=r)])
        if self.outcomes and self.recorder.recorder.recording:
            end = float(self.outcomes[-1]["end_stamp"])
            self.recorder.recorder.discard()
            self.recorder.start_episode(now=end, since=end)

    def hot_swap(self, checkpoint: str) -> tuple[bool, str]:
        """The policy node's own path: set the parameter, call ~/load_checkpoint."""
        from rclpy.parameter import Parameter
        from std_srvs.srv import Trigger
        self.policy.set_parameters([Parameter("checkpoint", value=checkpoint)])
        answer = self.call("policy", "load_checkpoint", Trigger, Trigger.Request(), 120.0)
        return bool(answer.success), answer.message

    def run_episodes(self, n: int, first: bool) -> list[dict]:
        """n episodes: the first starts by itself when the graph is up, the others by reset."""
        from std_srvs.srv import Trigger
        start = len(self.outcomes)
        for i in range(n):
            if not (first and i == 0):
                self.call("sim", "reset", Trigger, Trigger.Request())
            if not self.spin_until(lambda: len(self.outcomes) > start + i, 1800.0):
                raise RuntimeError("an episode did not end within 30 minutes of wall time")
        # the recorder and the mux close their episodes on the same outcome message
        self.spin_until(lambda: self.recorder.finished >= len(self.outcomes), 30.0)
        return self.outcomes[start:]

    def close(self) -> None:
        import rclpy
        self.executor.shutdown()
        self.sim.close()
        for node in (self.recorder, self.policy, self.dagger, self.sim, self.client):
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def run_dagger(cfg: DaggerRunConfig, progress=print) -> dict:
    from bc_ros.core.dagger.rounds import RoundLog, RoundMetrics
    from bc_ros.core.data.store import EpisodeStore

    os.makedirs(cfg.out, exist_ok=True)
    dataset = os.path.join(cfg.out, "dagger_data")
    log = RoundLog(os.path.join(cfg.out, "rounds.json"))
    t0 = time.perf_counter()
    checkpoint = cfg.initial_checkpoint
    if not checkpoint:
        progress("round 0: behavioral cloning on the demonstrations")
        checkpoint, train_log = train_round(cfg, 0, [])
        if checkpoint is None:
            raise RuntimeError(f"round 0 training failed; see {train_log}")
    evals = {0: evaluate_checkpoint(checkpoint, cfg)}
    used = cfg.train.get("episodes") or None       # the demos round 0 trains on
    demo_ticks = sum(e["length"] for e in EpisodeStore(cfg.demos).episodes
                     if used is None or e["index"] in used)
    log.append(RoundMetrics(round=0, episodes=0, success_rate=_rate(evals[0]),
                            expert_labels_added=demo_ticks, interventions_per_episode=0.0,
                            requests_per_episode=0.0, autonomous_fraction=0.0,
                            context_switches=0, dataset_size=demo_ticks,
                            wall_time_s=time.perf_counter() - t0, mode="beta"))
    log.write()
    progress(f"round 0: held-out success {_fmt(evals[0])}")
    graph = Graph(cfg, checkpoint, dataset)
    try:
        for r in range(1, cfg.rounds + 1):
            t_round = time.perf_counter()
            graph.set_round(r)
            progress(f"round {r}: collecting {cfg.episodes_per_round} episodes "
                     f"(beta {graph.dagger.config.schedule()(r):.2f})")
            n_status = len(graph.statuses)
            outcomes = graph.run_episodes(cfg.episodes_per_round, first=r == 1)
            ended = lambda: [s for s in graph.statuses[n_status:]  # noqa: E731
                             if s.get("reason") == "outcome"]
            graph.spin_until(lambda: len(ended()) >= len(outcomes), 30.0)
            stats = [s["stats"] for s in ended()][-len(outcomes):]
            if len(stats) != len(outcomes):
                raise RuntimeError(f"dagger_node reported {len(stats)} episode ends for "
                                   f"{len(outcomes)} sim outcomes")
            store = EpisodeStore(dataset)
            added = [e for e in store.episodes if e.get("round") == r]
            labels = sum(e["length"] for e in added)
            progress(f"round {r}: {sum(o['success'] for o in outcomes)}/{len(outcomes)} "
                     f"collection episodes succeeded; retraining")
            new, train_log = train_round(cfg, r, [dataset])
            swapped, why = (False, f"training failed (see {train_log})") if new is None \
                else graph.hot_swap(new)
            if swapped:
                checkpoint = new
            else:
                progress(f"round {r}: keeping the previous policy: {why}")
            evals[r] = evaluate_checkpoint(checkpoint, cfg) if swapped else evals[r - 1]
            metrics = RoundMetrics.from_episodes(
                r, [_stats(s) for s in stats], [bool(o["success"]) for o in outcomes],
                dataset_size=demo_ticks + sum(e["length"] for e in store.episodes),
                wall_time_s=time.perf_counter() - t_round,
                beta=graph.dagger.config.schedule()(r), mode="beta")
            metrics.success_rate = _rate(evals[r])   # the round's policy, on held-out seeds
            metrics.expert_labels_added = labels
            log.append(metrics)
            log.write()
            progress(f"round {r}: held-out success {_fmt(evals[r])}; +{labels} labels; "
                     f"{metrics.wall_time_s:.0f} s" + ("" if swapped else " (not swapped)"))
    finally:
        graph.close()
    summary = {"rounds": [dataclasses.asdict(m) for m in log.rounds],
               "evals": {str(k): v for k, v in evals.items()}, "checkpoint": checkpoint,
               "seconds": time.perf_counter() - t0}
    with open(os.path.join(cfg.out, "dagger.json"), "w") as f:
        json.dump(summary, f, indent=1)
    plot_rounds(summary, os.path.join(cfg.out, "dagger.png"))
    return summary


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
    ax.set_ylabel("success (%)")
    ax.set_ylim(0, 105)
    ax2 = ax.twinx()
    ax2.bar(xs, [m["dataset_size"] for m in rounds], alpha=0.2, color="gray")
    ax2.set_ylabel("dataset ticks")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
