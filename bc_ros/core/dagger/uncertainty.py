"""Robot-gated DAgger (ROS-free): ensemble disagreement, threshold calibration, and the
request / hand-back gate with hysteresis (ThriftyDAgger / LazyDAgger style).

Score. An ensemble of M policies (or M heads on one trunk) predicts actions ``a_m`` (D dims) for
the same observation. With a per-dimension action scale ``s`` (e.g. half the command range, or the
dataset's action std), the disagreement is the mean over action dims of the across-member std::

    score = (1/D) * sum_j std_m(a_{m,j}) / s_j          (std with ddof=0)

0 means the members agree exactly; 1 means they typically differ by one action scale.

Threshold. ``calibrate_threshold(scores, target_rate)`` picks the threshold on held-out scores
(e.g. the policy's scores on validation observations, or on the states of a previous round) so
that the fraction of scores *strictly above* it equals ``target_rate``: with the n scores sorted
ascending and ``k = round(target_rate * n)``, the threshold is the midpoint between the (n-k)-th
and (n-k+1)-th smallest, so exactly k lie above (fewer when scores tie there).

Gate. ``UncertaintyGate.update`` is called once per control tick:

- autonomous: request help (the expert takes over *this* tick) when ``score > threshold``;
- requesting: each tick the expert/policy distance (below) is compared with ``agree_tol``; after
  ``agree_ticks`` consecutive agreeing ticks, the next tick hands back to the policy (unless its
  score is again above the threshold, in which case the expert simply keeps control). Agreement
  first seen at tick a and holding through a + agree_ticks - 1 => the policy is back at tick
  a + agree_ticks. The request tick itself is not measured. A tick where either command is missing
  breaks the run of agreement.

Distance between the expert's and the policy's command, normalized per dimension (RMS)::

    d = sqrt( (1/D) * sum_j ((e_j - p_j) / s_j)^2 )
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


def _scale(scale, dim: int) -> np.ndarray:
    """Per-dimension scale (dim,): None or empty -> ones, a scalar -> that value in every dim."""
    if scale is None:
        return np.ones(dim)
    s = np.asarray(scale, dtype=np.float64)
    if s.size == 0:
        return np.ones(dim)
    if s.ndim == 0:
        s = np.full(dim, float(s))
    if s.shape != (dim,):
        raise ValueError(f"action scale needs one value per action dim ({dim}), got "
                         f"scale={np.asarray(scale).tolist()}")
    if not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError(f"action scale must be finite and > 0, got scale={s.tolist()}")
    return s


def half_range_scale(low, high) -> np.ndarray:
    """The action scale the policy node scores with: half the command range per dimension
    (floored at 1e-9, so a fixed dimension does not divide by zero)."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if low.shape != high.shape or low.ndim != 1:
        raise ValueError(f"low and high must be 1-D of one length, got {low.tolist()} "
                         f"{high.tolist()}")
    return np.maximum((high - low) / 2.0, 1e-9)


def ensemble_disagreement(actions, scale=None):
    """Disagreement of M ensemble members: mean over action dims of std across members / scale.

    Args:
        actions: (M, D) for one observation, or (M, ..., D) for a batch; M >= 2.
        scale: per-dimension action scale (D,), a scalar, or None for 1.
    Returns:
        a float for (M, D) input, else an array of shape ``actions.shape[1:-1]``.
    """
    a = np.asarray(actions, dtype=np.float64)
    if a.ndim < 2 or a.shape[0] < 2:
        raise ValueError(f"actions must be (members>=2, ..., dims), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("actions contain non-finite values")
    s = _scale(scale, a.shape[-1])
    score = (a.std(axis=0) / s).mean(axis=-1)  # (...,)
    return float(score) if score.ndim == 0 else score


def observation_score(actions, scale) -> float | None:
    """The score of one observation, as policy_node publishes it and calibration replays it:
    the disagreement of the members' raw actions (M, D) over ``scale``; None (no score rather
    than a wrong one) when a member's action is not finite."""
    a = np.asarray(actions, dtype=np.float64)
    return ensemble_disagreement(a, scale=scale) if np.isfinite(a).all() else None


def action_distance(expert, policy, scale=None) -> float:
    """RMS over dims of the scaled difference: sqrt(mean_j(((e_j - p_j) / s_j)^2))."""
    e = np.asarray(expert, dtype=np.float64).reshape(-1)
    p = np.asarray(policy, dtype=np.float64).reshape(-1)
    if e.shape != p.shape:
        raise ValueError(f"expert and policy commands differ in length: {e.size} vs {p.size}")
    s = _scale(scale, e.size)
    return float(np.sqrt(np.mean(((e - p) / s) ** 2)))


def _held_out_scores(scores) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D array, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"scores must be finite, got {int(np.sum(~np.isfinite(s)))} "
                         f"non-finite of {s.size}")
    return s


def calibrate_threshold(scores, target_rate: float) -> float:
    """Threshold such that the fraction of held-out ``scores`` strictly above it is ``target_rate``.

    k = round(target_rate * n) scores lie above the returned value (the midpoint between the
    (n-k)-th and (n-k+1)-th smallest score); ties at that boundary make the realized rate lower.
    At least one score must lie above, so n must be >= about 1 / target_rate.
    """
    if not (isinstance(target_rate, (int, float, np.floating)) and 0.0 < target_rate < 1.0):
        raise ValueError(f"target_rate must be in (0, 1), got {target_rate=}")
    s = np.sort(_held_out_scores(scores))
    n = s.size
    k = int(round(target_rate * n))
    if k < 1:
        raise ValueError(f"{n} held-out scores are too few to calibrate {target_rate=}: need at "
                         f"least {math.ceil(0.5 / target_rate)}")
    if k >= n:
        raise ValueError(f"{target_rate=} leaves no score below the threshold with {n} scores")
    return float(0.5 * (s[n - k - 1] + s[n - k]))


def request_rate(scores, threshold: float) -> float:
    """Fraction of ``scores`` strictly above ``threshold`` (what the gate would request)."""
    return float(np.mean(_held_out_scores(scores) > threshold))


@dataclasses.dataclass
class GateStep:
    requesting: bool            # the expert should be in control this tick
    event: str | None = None    # "request" | "handback" | None
    distance: float | None = None  # expert/policy distance measured this tick (None: not measured)


class UncertaintyGate:
    """Request help when the score exceeds the threshold; hand back after agreement (hysteresis).

    Args:
        threshold: score above which the robot requests the expert (``calibrate_threshold``).
        agree_tol: the expert and policy agree on a tick when ``action_distance`` < agree_tol.
        agree_ticks: consecutive agreeing ticks needed before the hand-back (>= 1).
        action_scale: per-dimension scale for the distance (None: 1 per dim).
    """

    def __init__(self, threshold: float, *, agree_tol: float, agree_ticks: int,
                 action_scale=None):
        if not (isinstance(threshold, (int, float, np.floating)) and math.isfinite(threshold)):
            raise ValueError(f"threshold must be a finite number (calibrate it with "
                             f"calibrate_threshold), got {threshold=}")
        if not agree_tol > 0:
            raise ValueError(f"agree_tol must be > 0, got {agree_tol=}")
        if isinstance(agree_ticks, bool) or not isinstance(agree_ticks, (int, np.integer)) \
                or agree_ticks < 1:
            raise ValueError(f"agree_ticks must be an integer >= 1, got {agree_ticks=}")
        self.threshold = float(threshold)
        self.agree_tol = float(agree_tol)
        self.agree_ticks = int(agree_ticks)
        self.action_scale = action_scale
        self.requests = 0
        self.reset()

    def reset(self) -> None:
        """A new episode starts autonomous (``requests`` keeps counting; the mux counts per
        episode)."""
        self.requesting = False
        self.agree_count = 0

    def update(self, score: float | None, expert=None, policy=None) -> GateStep:
        """One control tick. ``score`` None (no fresh policy output) never requests;
        ``expert``/``policy`` None (stale) never count as agreement."""
        event = None
        if self.requesting and self.agree_count >= self.agree_ticks:
            self.requesting, self.agree_count, event = False, 0, "handback"
        if not self.requesting:
            if score is not None and score > self.threshold:
                self.requesting = True
                if event == "handback":  # released and needed again in one tick: no switch
                    event = None
                else:
                    self.requests += 1
                    event = "request"
            return GateStep(self.requesting, event)
        distance = None
        if expert is not None and policy is not None:
            distance = action_distance(expert, policy, self.action_scale)
        agree = distance is not None and distance < self.agree_tol
        self.agree_count = self.agree_count + 1 if agree else 0
        return GateStep(True, event, distance)
