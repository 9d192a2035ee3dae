"""The trainer's typed config (torch-free, so ``bc-ros --help`` stays instant)."""

from __future__ import annotations

import dataclasses

from bc_ros.core.config import field


@dataclasses.dataclass
class TrainConfig:
    dataset: str = field("", "Episode store to train on (a folder written by the recorder).")
    out: str = field("", "Run folder: checkpoints, TensorBoard logs, train.json.")
    head: str = field("gaussian", "Action head: gaussian | mog | diffusion | ar | cvae.")
    head_options: dict = field(None, "Keyword options of the head (e.g. {'num_modes': 5}).")
    encoder: dict = field(None, "EncoderConfig fields (channels, keypoints, fusion, ...).")
    cameras: list = field([], "Cameras the policy sees; empty: all (with side cameras: center).")
    side_camera: str = field("off", "off | continuous | discrete: side cameras as extra samples "
                                    "with steer-back labels (drone); off: all views are inputs.")
    recovery_horizon: float = field(2.0, "Side cameras: seconds to steer back (the T in "
                                         "augment.py).")
    use_state: bool = field(True, "Feed the robot state vector to the policy.")
    goal: str = field("", "Goal-conditioned policy (the policy node reads the goal topic): "
                          "hindsight: a sample's goal is where the robot got to later in the "
                          "same episode (the recorded achieved_goal stream; play data), at the "
                          "tick goal_strategy picks; recorded: the goal recorded with the "
                          "episode (goal-labelled demonstrations); empty: no goal.")
    goal_state_indices: list = field([], "Hindsight goals from these state entries instead of "
                                         "the achieved_goal stream (implies goal=hindsight).")
    goal_strategy: str = field("final", "Hindsight goal tick: final (the episode's last) | "
                                        "future (uniform over the rest of the episode, or "
                                        "the next goal_future_ticks).")
    goal_future_ticks: int = field(0, "future: draw the goal tick from the next N ticks "
                                      "(future-k, as GCSL and play-LMP; 0: to the end).")
    extra_datasets: list = field([], "More episode stores to train on (DAgger rounds' data), "
                                     "all of them for training; validation stays on dataset.")
    label_control: list = field([], "extra_datasets: train only on ticks whose recorded control "
                                    "source is one of these codes (0 expert, HG-DAgger); "
                                    "empty: every tick with a fresh expert label (beta).")
    label_context_ticks: int = field(0, "With label_control: also train on the up-to-N ticks "
                                        "before each takeover (HG-DAgger context windows; "
                                        "their label is whatever the store holds, the sim "
                                        "expert's).")
    successful_only: bool = field(False, "Train on successful episodes only.")
    episodes: list = field([], "Episode indices to use; empty: all.")
    n_obs_steps: int = field(1, "Observation history length.")
    horizon: int = field(1, "Actions predicted per chunk.")
    n_action_steps: int = field(1, "Actions executed per chunk.")
    temporal_ensemble: float = field(0.0, "ACT temporal ensembling coefficient (0: off).")
    chunk_candidates: int = field(1, "Coherent chunks at run time: draw this many candidate "
                                     "chunks and keep the one that continues the previous "
                                     "chunk's plan (1: off; see core/policy/policy.py).")
    steps: int = field(2000, "Optimizer steps.")
    batch_size: int = field(64, "Minibatch size per process.")
    lr: float = field(1e-3, "Peak learning rate (AdamW).")
    weight_decay: float = field(1e-6, "AdamW weight decay.")
    warmup_steps: int = field(100, "Linear warm-up, then cosine decay to 0.")
    grad_clip: float = field(10.0, "Gradient norm clip (0: off).")
    precision: str = field("auto", "auto | fp32 | bf16: bf16 runs the encoder under bf16 "
                                   "autocast (heads stay float32), about 2x faster on CPUs "
                                   "with AMX or AVX512-BF16; auto picks bf16 where the CPU "
                                   "has them.")
    ema: bool = field(True, "Checkpoints carry an exponential moving average of the weights "
                            "(what eval and the policy node run); false: the last weights.")
    ema_power: float = field(0.75, "EMA warm-up: decay = 1 - (1 + step) ** -power.")
    ema_max_decay: float = field(0.9999, "EMA: the decay's cap.")
    random_shift: int = field(4, "Image augmentation: random shift by up to this many pixels.")
    val_fraction: float = field(0.1, "Fraction of episodes held out for validation.")
    val_every: int = field(200, "Validate (and save best.pt) every this many steps.")
    save_every: int = field(500, "Save last.pt and train_state.pt every this many steps.")
    keep_every: int = field(0, "Also keep a copy step_<N>.pt every this many steps (0: no), "
                               "e.g. to evaluate the learning curve.")
    max_val_samples: int = field(2048, "Validation subset size (fixed by the seed).")
    seed: int = field(0, "Seed of weights, split, batches and noise.")
    threads: int = field(0, "torch threads per process (0: torch's default).")
    resume: bool = field(False, "Continue from out/last.pt and out/train_state.pt.")
    init_checkpoint: str = field("", "Fine-tune: start from this checkpoint's weights and "
                                     "normalizer (the model must be the one this config "
                                     "builds); optimizer and schedule start afresh.")
    progress: bool = field(True, "Show a progress bar (rank 0).")

    def __post_init__(self):
        self.head_options = dict(self.head_options or {})
        self.encoder = dict(self.encoder or {})
        for name in ("steps", "batch_size", "val_every", "save_every", "n_obs_steps", "horizon",
                     "n_action_steps", "max_val_samples", "chunk_candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr=}")
        if self.random_shift < 0 or self.warmup_steps < 0:
            raise ValueError(f"random_shift and warmup_steps must be >= 0, got "
                             f"{self.random_shift=} {self.warmup_steps=}")
        if not self.dataset or not self.out:
            raise ValueError(f"dataset and out are required, got {self.dataset=} {self.out=}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, got {self.precision=}")
        if self.resume and self.init_checkpoint:
            raise ValueError("resume and init_checkpoint exclude each other: resume continues "
                             "out/last.pt, init_checkpoint starts a new run from another one")
