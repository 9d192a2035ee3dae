"""``bc-ros dagger``: unattended DAgger rounds in a sim, over ROS 2.

One process, one executor, five nodes that talk over topics exactly as separate processes would:

    sim_node (lockstep, /clock) --cameras, odom, expert/cmd--> policy_node (lockstep)
    policy_node --policy/cmd--> dagger_node (trigger=inputs) --cmd--> sim_node
    dagger_node --dagger/control--> recorder_node (record_control) <-- everything else

Round 0 is behavioral cloning on the expert demonstrations. Each round r >= 1:

1. the policy of round r-1 drives, and the gating decides when the expert acts instead:

   - ``beta`` (classic DAgger, Ross et al. 2011): ``dagger_node`` executes the expert's command
     with probability beta_r (the schedule), else the policy's; the expert's command at every
     visited state is a label;
   - ``uncertainty`` (robot-gated, ThriftyDAgger / LazyDAgger style): an ensemble of
     ``ensemble_size`` policies (the same training with seeds train.seed + m; the first drives)
     scores each observation by its disagreement; above a threshold the robot requests the
     expert, who keeps control until expert and policy agree for ``agree_ticks`` ticks in a row.
     The threshold is calibrated after every training on demonstrations no member trained on,
     so that ``target_request_rate`` of their ticks exceed it. Only the expert's ticks are labels;
   - ``human`` (HG-DAgger, Kelly et al. 2019): sim_node's simulated human (``core/sim/human.py``)
     takes over when the drone strays from the expert's path and lets go once it is back; only
     the expert's ticks are labels (plus, with ``context_ticks``, the ticks before each takeover);

   the recorder stores every tick with the expert's command as its action, who was in control
   (``control``), tagged source=dagger, round=r;
2. ``bc-ros train`` processes retrain from scratch on the demonstrations plus every round's data
   (aggregation; ``label_control`` keeps only the labelled ticks outside beta), the ensemble's
   members in parallel; the graph waits, the sim idles in lockstep;
3. the new checkpoint (and the ensemble's members) are hot-swapped into the running policy node
   (``~/load_checkpoint``) and the threshold is recalibrated and set on ``dagger_node`` while it
   runs; a failed retrain or load keeps the old policy (and members and threshold) running and
   the round says so;
4. the round's policy is evaluated on held-out seeds without ROS (``bc-ros eval``'s code path).

Per-round metrics go to ``<out>/rounds.json`` (``RoundLog``) and a plot ``<out>/dagger.png``;
``<out>/dagger.json`` adds the evaluations, calibrations and a per-round time breakdown.
Everything runs on sim time, so the result does not depend on the machine's speed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np

from bc_ros.core.config import field

GATINGS = ("beta", "uncertainty", "human")
CONTROL_EXPERT = 0          # bc_ros.core.data.recording.CONTROL_EXPERT (kept torch/h5py-free)


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
    initial_checkpoint: str = field("", "Start from this policy instead of training round 0 "
                                        "(beta and human gating).")
    gating: str = field("beta", "Who decides when the expert acts: beta (its command executes "
                                "with probability beta; every tick is a label), uncertainty "
                                "(the robot asks when its ensemble disagrees), human (HG-DAgger: "
                                "a simulated human takes over when the drone strays); with "
                                "uncertainty and human only the expert's ticks are labels.")
    ensemble_size: int = field(3, "Uncertainty: policies trained per round (seeds train.seed + "
                                  "m, in parallel processes); the first drives, all score.")
    train_parallel: int = field(0, "Training processes at once (0: every member of the "
                                   "ensemble); unless train sets threads, each gets the CPU "
                                   "count / this many torch threads.")
    target_request_rate: float = field(0.1, "Uncertainty: fraction of held-out ticks whose "
                                            "disagreement exceeds the calibrated threshold.")
    calibration_episodes: list[int] = field([], "Uncertainty: demo-store episodes the threshold is "
                                           "calibrated on, never trained on; empty: the demos "
                                           "train.episodes leaves out.")
    calibration_ticks: int = field(2000, "Uncertainty: held-out ticks scored at most (whole "
                                         "episodes, in order).")
    agree_tol: float = field(0.1, "Uncertainty: expert/policy distance (RMS over dims, in half "
                                  "command ranges) under which they agree.")
    agree_ticks: int = field(5, "Uncertainty: agreeing ticks in a row before the robot takes "
                                "control back (hand-back hysteresis).")
    context_ticks: int = field(0, "Uncertainty and human: also train on the up-to-N ticks before "
                                  "each takeover (HG-DAgger context; the sim expert's labels).")
    human: dict = field(None, "Human: the simulated human's rule (bc_ros.core.sim.human."
                              "HumanRule fields engage_lateral, engage_heading, release_lateral, "
                              "release_heading, release_ticks); unset ones keep the defaults.")

    retrain: str = field("scratch", "How each round retrains: scratch (anew on all the data) or "
                                    "finetune (each member continues from the policy running now, "
                                    "its weights and normalizer, on all the data).")
    finetune_steps: int = field(0, "Finetune: training steps per round (0: half of train.steps).")
    policy_backend: str = field("torch", "policy_node's backend in the rollouts: torch or "
                                         "onnxruntime (the same actions to float rounding, 2-3x "
                                         "faster per observation; the ensemble's members too).")

    def __post_init__(self):
        self.train = dict(self.train or {})
        self.human = dict(self.human or {})
        try:
            self.calibration_episodes = [int(i) for i in self.calibration_episodes or []]
        except (TypeError, ValueError):
            raise ValueError(f"calibration_episodes must be episode indices, got "
                             f"{self.calibration_episodes=}") from None
        if not self.demos:
            raise ValueError("demos is required: the expert demonstrations' episode store")
        if self.rounds < 1 or self.episodes_per_round < 1:
            raise ValueError(f"rounds and episodes_per_round must be >= 1, got {self.rounds=} "
                             f"{self.episodes_per_round=}")
        if self.gating not in GATINGS:
            raise ValueError(f"gating must be one of {GATINGS}, got {self.gating=}")
        if self.train_parallel < 0:
            raise ValueError(f"train_parallel must be >= 0, got {self.train_parallel=}")
        from bc_ros.core.policy.backend import BACKENDS
        if self.policy_backend not in BACKENDS:
            raise ValueError(f"policy_backend must be one of {BACKENDS}, got "
                             f"{self.policy_backend=}")
        if self.retrain not in ("scratch", "finetune") or self.finetune_steps < 0:
            raise ValueError(f"retrain must be scratch or finetune and finetune_steps >= 0, got "
                             f"{self.retrain=} {self.finetune_steps=}")
        if self.context_ticks < 0 or (self.context_ticks and self.gating == "beta"):
            raise ValueError(f"context_ticks must be >= 0 and applies to uncertainty and human "
                             f"gating (beta labels every tick), got {self.context_ticks=} with "
                             f"{self.gating=}")
        if self.human and self.gating != "human":
            raise ValueError(f"human (the simulated human's rule) applies to human gating, got "
                             f"{self.gating=}")
        self.human_rule()   # validates the human fields
        if self.gating == "uncertainty":
            self._check_uncertainty()

    def _check_uncertainty(self) -> None:
        if isinstance(self.ensemble_size, bool) or not isinstance(self.ensemble_size, int) \
                or self.ensemble_size < 2:
            raise ValueError(f"uncertainty gating needs an ensemble of >= 2 policies, got "
                             f"{self.ensemble_size=}")
        if not 0.0 < self.target_request_rate < 1.0:
            raise ValueError(f"target_request_rate must be in (0, 1), got "
                             f"{self.target_request_rate=}")
        if self.calibration_ticks < 1 or not self.agree_tol > 0 or self.agree_ticks < 1:
            raise ValueError(f"calibration_ticks and agree_ticks must be >= 1 and agree_tol > 0, "
                             f"got {self.calibration_ticks=} {self.agree_ticks=} "
                             f"{self.agree_tol=}")
        if self.initial_checkpoint:
            raise ValueError("uncertainty gating trains its ensemble in round 0: leave "
                             f"initial_checkpoint empty, got {self.initial_checkpoint=}")
        trained = set(self.train.get("episodes") or [])
        if not trained:
            raise ValueError("uncertainty gating calibrates its threshold on demonstrations no "
                             "member trains on: list the training demos in train.episodes (e.g. "
                             "{\"episodes\": [0, 1]}) and leave others out")
        overlap = sorted(trained & set(self.calibration_episodes))
        if overlap:
            raise ValueError(f"calibration_episodes {overlap} are also in train.episodes: the "
                             f"threshold must be calibrated on held-out demonstrations")

    def human_rule(self):
        from bc_ros.core.config import from_dict
        from bc_ros.core.sim.human import HumanRule
        return from_dict(HumanRule, self.human)

    @property
    def members(self) -> int:
        """Policies trained per round."""
        return self.ensemble_size if self.gating == "uncertainty" else 1

    @property
    def parallel_trainings(self) -> int:
        """Training processes run at once."""
        return min(self.train_parallel or self.members, self.members)


def member_config(cfg: DaggerRunConfig, r: int, m: int, extra: list[str],
                  start: list[str] | None = None) -> dict:
    """TrainConfig values of round r's member m (the driving policy is m = 0, in round_<r>/).
    ``start``: the checkpoints running now, one per member, to fine-tune from."""
    out = os.path.join(cfg.out, f"round_{r}", *([f"member_{m}"] if m else []))
    values = {"dataset": cfg.demos, "out": out, "extra_datasets": extra, "progress": False,
              **cfg.train}
    values["seed"] = int(cfg.train.get("seed", 0)) + m
    if start:
        from bc_ros.core.train.config import TrainConfig
        steps = int(cfg.train.get("steps", TrainConfig.__dataclass_fields__["steps"].default))
        values.update(init_checkpoint=start[m], steps=cfg.finetune_steps or max(1, steps // 2))
    if cfg.gating != "beta":        # only the expert's ticks (and the context) are labels
        values.setdefault("label_control", [CONTROL_EXPERT])
        values.setdefault("label_context_ticks", cfg.context_ticks)
    if not cfg.train.get("threads") and cfg.parallel_trainings > 1:
        values["threads"] = max(1, (os.cpu_count() or 1) // cfg.parallel_trainings)
    return values


def train_round(cfg: DaggerRunConfig, r: int, extra: list[str],
                start: list[str] | None = None) -> tuple[list[str] | None, str]:
    """Retrain every member in a separate ``bc-ros train`` process (``train_parallel`` at once),
    on demos + rounds' data: from scratch, or from ``start`` (fine-tuning, one checkpoint per
    member). Returns (checkpoints, main first; or None if any failed, and the log of the first
    that failed; else the main's log)."""
    jobs = []
    for m in range(cfg.members):
        values = member_config(cfg, r, m, extra, start)
        os.makedirs(values["out"], exist_ok=True)
        config_path = os.path.join(values["out"], "train_config.json")   # YAML > JSON
        with open(config_path, "w") as f:
            json.dump(values, f)
        jobs.append((config_path, os.path.join(values["out"], "train.log"),
                     os.path.join(values["out"], "last.pt")))
    parallel = cfg.parallel_trainings
    codes = []
    for first in range(0, len(jobs), parallel):
        running = []
        for config_path, log, _ in jobs[first:first + parallel]:
            f = open(log, "w")
            running.append((subprocess.Popen([sys.executable, "-m", "bc_ros.cli", "train",
                                               "--config", config_path],
                                              stdout=f, stderr=subprocess.STDOUT), f))
        for proc, f in running:
            codes.append(proc.wait())
            f.close()
    for code, (_, log, ckpt) in zip(codes, jobs):
        if code != 0 or not os.path.exists(ckpt):
            return None, log
    return [ckpt for _, _, ckpt in jobs], jobs[0][1]


def command_limits(cfg: DaggerRunConfig) -> tuple[list[float], list[float], list[str]]:
    """The sim's command limits and action names (low, high, names)."""
    from bc_ros.core.sim import make_env
    env = make_env(cfg.robot, cfg.task, image_size=tuple(cfg.image_size))
    try:
        return list(env.action_low), list(env.action_high), list(env.action_names)
    finally:
        env.close()


def held_out_demos(cfg: DaggerRunConfig) -> list[int]:
    """The demonstrations the threshold is calibrated on (no member trains on them)."""
    from bc_ros.core.data.store import EpisodeStore
    known = [e["index"] for e in EpisodeStore(cfg.demos).episodes]
    if cfg.calibration_episodes:
        missing = sorted(set(cfg.calibration_episodes) - set(known))
        if missing:
            raise ValueError(f"calibration_episodes {missing} are not in {cfg.demos}")
        return list(cfg.calibration_episodes)
    held = [i for i in known if i not in set(cfg.train.get("episodes") or [])]
    if not held:
        raise ValueError(f"every demonstration in {cfg.demos} is trained on: leave some out of "
                         f"train.episodes to calibrate the threshold on")
    return held


def calibrate(cfg: DaggerRunConfig, checkpoints: list[str], low, high) -> dict:
    """Threshold for ``target_request_rate`` from the ensemble's scores on held-out demos."""
    import torch

    from bc_ros.core.dagger.calibration import ensemble_scores
    from bc_ros.core.dagger.uncertainty import calibrate_threshold, request_rate

    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scores = ensemble_scores(checkpoints, cfg.demos, held_out_demos(cfg), low, high,
                                 max_ticks=cfg.calibration_ticks)
    finally:
        torch.set_num_threads(threads)
    threshold = calibrate_threshold(scores, cfg.target_request_rate)
    return {"threshold": threshold, "held_out_rate": request_rate(scores, threshold),
            "ticks": int(scores.size), "score_median": float(np.median(scores)),
            "score_p90": float(np.percentile(scores, 90)),
            "seconds": time.perf_counter() - started}


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

    def __init__(self, cfg: DaggerRunConfig, checkpoints: list[str], dataset: str,
                 threshold: float | None = None):
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
        from bc_ros.core.dagger.uncertainty import half_range_scale

        self.cfg = cfg
        sim_time = [Parameter("use_sim_time", value=True)]
        env = make_env(cfg.robot, cfg.task, image_size=tuple(cfg.image_size))
        low, high, names = list(env.action_low), list(env.action_high), list(env.action_names)
        rec = recorder_overrides_for(cfg.robot, cfg.task, dataset, tuple(cfg.image_size), env)
        env.close()
        rec.update(record_control=True, auto_start=True, source="dagger", round=1)
        kw = {"context": self.context}
        self.recorder = RecorderNode(rec, parameter_overrides=sim_time, **kw)
        self.policy = PolicyNode({"checkpoint": checkpoints[0], "ensemble": checkpoints[1:],
                                  "mode": "lockstep", "command_type": "twist_stamped",
                                  "low": low, "high": high, "torch_threads": 1,
                                  "backend": cfg.policy_backend},
                                 parameter_overrides=sim_time, **kw)
        beta = {k: getattr(cfg, k) for k in ("beta_schedule", "beta", "beta_start", "beta_end",
                                             "beta_rounds", "beta_decay")}
        gating = {}
        if cfg.gating == "uncertainty":
            gating = {"uncertainty_threshold": float(threshold), "agree_tol": cfg.agree_tol,
                      "agree_ticks": cfg.agree_ticks, "wait_for_score": True,
                      "action_scale": [float(v) for v in half_range_scale(low, high)]}
        elif cfg.gating == "human":
            gating = {"engage_source": "flag", "wait_for_engaged": True}
        self.dagger = DaggerNode({"mode": cfg.gating, "round": 1, "trigger": "inputs",
                                  "wait_for_expert": True, "command_type": "twist_stamped",
                                  "action_names": names, "stop_command": [0.0] * len(names),
                                  "seed": cfg.seed, **beta, **gating},
                                 parameter_overrides=sim_time, **kw)
        human = {}
        if cfg.gating == "human":
            rule = cfg.human_rule()
            human = {"simulated_human": True, **{f"human_{k}": v for k, v in
                                                 dataclasses.asdict(rule).items()}}
        self.sim = SimNode({"robot": cfg.robot, "task": cfg.task,
                            "seed": 100_000 + 1000 * cfg.seed, "mode": "lockstep",
                            "publish_clock": True, "auto_reset": False,
                            "command_type": "twist_stamped", "image_width": cfg.image_size[0],
                            "image_height": cfg.image_size[1], "wait_for_subscribers": 1,
                            **human}, **kw)
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

    def hot_swap(self, checkpoints: list[str]) -> tuple[bool, str]:
        """The policy node's own path: set the parameters (the main checkpoint and the ensemble's
        members, in one call), call ~/load_checkpoint."""
        from rclpy.parameter import Parameter
        from std_srvs.srv import Trigger
        self.policy.set_parameters_atomically([
            Parameter("checkpoint", value=checkpoints[0]),
            Parameter("ensemble", Parameter.Type.STRING_ARRAY, list(checkpoints[1:]))])
        answer = self.call("policy", "load_checkpoint", Trigger, Trigger.Request(), 120.0)
        return bool(answer.success), answer.message

    def set_threshold(self, threshold: float) -> None:
        """The robot-gated threshold, set while running (from the next episode, or at once on
        the episode that has not ticked yet)."""
        from rclpy.parameter import Parameter
        result = self.dagger.set_parameters([Parameter("uncertainty_threshold",
                                                       value=float(threshold))])[0]
        if not result.successful:
            raise RuntimeError(f"dagger_node refused threshold {threshold}: {result.reason}")

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
    from bc_ros.core.data.dataset import context_from_control
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
