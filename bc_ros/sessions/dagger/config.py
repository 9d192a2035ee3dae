"""What a ``bc-ros dagger`` run is: its typed config, and the training config of each round's
ensemble member."""

from __future__ import annotations

import dataclasses
import os

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
