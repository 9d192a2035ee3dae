"""Training recipes per task: what ``bc-ros train --preset <task>`` starts from.

A preset is a set of ``TrainConfig`` fields shared by every head, plus per-head additions; fields
given on the command line or in ``--config`` override it. The figures each recipe reached are in
the README (``benchmarks/bench_learning.py`` measures them).
"""

from __future__ import annotations

# Diffusion Policy's chunking: 2 observations of history, 16 actions predicted, 8 executed. The
# chunk lets a multimodal head commit to one way round for 8 ticks at a time instead of choosing
# afresh at every tick.
CHUNKS = {"n_obs_steps": 2, "horizon": 16, "n_action_steps": 8}
HEAD_OPTIONS = {"mog": {"num_modes": 5}}
# Diffusion Policy's denoiser: a temporal-convolution UNet over the chunk, FiLM-conditioned on
# the observation, at its lower learning rate (bypass, 200 demos, 100 held-out seeds: 70 % against
# the MLP denoiser's 57 % at 1e-3; docs/figures/learning_bypass*.json)
UNET_DIFFUSION = {"head_options": {"denoiser": "unet"}, "lr": 3e-4}

PRESETS: dict[str, dict] = {
    # arm: the three fixed cameras see pillar and target, the joint state says where the hand
    # is; 27 ticks an episode, so many steps per demonstration. No random shift: the cameras are
    # fixed and the hand's position comes from the state, so a shifted image misplaces the
    # target against it (mog, 200 demos, 100 held-out seeds: 60 % without, 47 % with 4 px;
    # higher at each of the 4 checkpoints of the curve, docs/figures/learning_reach_around*.json)
    # Data: 27 ticks an episode is little per demonstration; 1000 demonstrations plus 500 with
    # noise injected into the executed command (recovery data, DART) took mog from 60 % (200
    # demos) to 94 % with the same steps (benchmarks/bench_learning.py --demos 1000
    # --noise-demos 500).
    #
    # Run time: a chunk every 2 ticks, 8 candidates kept coherent with the last plan. Each
    # chunk's 8 ticks of open loop placed the hand's turn from the lane a few cm off, and the
    # hand's edge caught the pillar's front corner; re-planning every 2 ticks fixes the timing,
    # and coherent candidates stop the re-plans from switching sides (mog, 1000 demos + 500
    # noise-injected, 100 held-out seeds: 94 % with 8 executed, 97 % with 2 and 8 candidates;
    # docs/figures/learning_reach_around*.json)
    "reach_around": {"common": {**CHUNKS, "n_action_steps": 2, "chunk_candidates": 8,
                                "cameras": [], "use_state": True, "steps": 4000,
                                "batch_size": 64, "lr": 1e-3, "warmup_steps": 200,
                                "random_shift": 0, "ema": True, "val_every": 500,
                                "save_every": 500},
                     "heads": {"diffusion": UNET_DIFFUSION}},
    # drone: the three body-fixed cameras (the centre one loses the trunk while passing it).
    # Data: 200 demos plus 200 noise-injected (recovery data): ar 98 %, mog 95 % on 100
    # held-out seeds; cvae 94 % with the 200 alone (docs/figures/sim_bypass.json)
    "bypass": {"common": {**CHUNKS, "cameras": [], "use_state": False, "steps": 4000,
                          "batch_size": 64, "lr": 1e-3, "warmup_steps": 200, "random_shift": 4,
                          "ema": True, "val_every": 500, "save_every": 500},
               # MoG: winner-takes-all, since the likelihood loss collapsed the drone's 5
               # components onto one path between the sides (17 % against 61 %, 200 demos); at
               # run time the likeliest component, not one drawn by weight (with 200 more
               # noise-injected demos: 95 % against 79 %; docs/figures/learning_bypass_d200n200*)
               # Diffusion: the denoiser predicts the clean chunk (x0) instead of the noise:
               # 90 % against 74 % with the same 4000 steps, and 92 % sampled in 5 DDIM steps
               # instead of 10 (half the latency; docs/figures/learning_bypass_d200n200_x0*)
               "heads": {"diffusion": {**UNET_DIFFUSION,
                                       "head_options": {"denoiser": "unet",
                                                        "prediction": "sample",
                                                        "sample_steps": 5}},
                         "mog": {"head_options": {"num_modes": 5, "loss": "wta",
                                                  "choice": "argmax"}}}},
    # the Husky (the third robot): one forward camera and the odometry; the red cube's bearing
    # is in the image only. Short episodes (about 28 ticks), so noise-injected demonstrations
    # teach the way back to the cube (docs/figures/sim_husky.json).
    "to_cube": {"common": {**CHUNKS, "cameras": [], "use_state": True, "steps": 2000,
                           "batch_size": 64, "lr": 1e-3, "warmup_steps": 200,
                           "random_shift": 4, "ema": True, "val_every": 500,
                           "save_every": 500},
                "heads": {"diffusion": UNET_DIFFUSION}},
    # arm reach_goal, goal-conditioned (the goal topic): trained on unlabelled play relabeled in
    # hindsight with where the hand got to within the next 3 s (future-k; play-LMP's windows
    # are 1-2 s); goal-labelled demonstrations instead: --goal recorded. The goal is not in the
    # images, and the joint state says where the hand is; one small camera is enough
    # (docs/figures/goal_conditioned.json).
    "reach_goal": {"common": {"cameras": ["center"], "use_state": True, "n_obs_steps": 1,
                              "horizon": 8, "n_action_steps": 4, "steps": 3000,
                              "batch_size": 128, "lr": 1e-3, "warmup_steps": 200,
                              "random_shift": 0, "ema": True, "val_every": 500,
                              "save_every": 500, "goal": "hindsight",
                              "goal_strategy": "future", "goal_future_ticks": 30},
                   "heads": {"diffusion": UNET_DIFFUSION}},
}


def load_preset(name: str, head: str) -> dict:
    """TrainConfig fields of preset ``name`` for ``head`` (head and head_options included)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: the presets are {sorted(PRESETS)}")
    preset = PRESETS[name]
    fields = {**preset["common"], **preset["heads"].get(head, {}), "head": head}
    fields.setdefault("head_options", dict(HEAD_OPTIONS.get(head, {})))
    return fields
