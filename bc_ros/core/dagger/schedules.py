"""Beta schedules for classic DAgger (ROS-free): the probability ``beta_i`` that the expert's
command is *executed* at a tick of round ``i`` (the expert's command is *recorded* as the label at
every tick regardless; see ``CommandMux`` in beta mode).

Rounds count from 0. Each schedule is a small validated, immutable callable, as in imitation's
``dagger.py`` (``LinearBetaSchedule``, ``ExponentialBetaSchedule``):

- ``ConstantBeta(beta)``:                 beta_i = beta
- ``LinearBeta(start, end, rounds)``:     beta_i = start + (end - start) * min(i, rounds) / rounds
                                          (reaches ``end`` at round ``rounds`` and stays there)
- ``ExponentialBeta(start, decay)``:      beta_i = start * decay ** i

``make_schedule(name, **kwargs)`` builds one from a config (``"constant"``, ``"linear"``,
``"exponential"``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import operator


def _check_probability(name: str, value) -> None:
    if isinstance(value, bool) or not (isinstance(value, numbers.Real) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {name}={value!r}")


def _round_index(round_num) -> int:
    try:
        i = operator.index(round_num)
    except TypeError:
        raise ValueError(f"round must be an integer >= 0, got {round_num=}") from None
    if i < 0:
        raise ValueError(f"round must be an integer >= 0, got {round_num=}")
    return i


class BetaSchedule:
    """``schedule(i) -> beta_i`` in [0, 1] for round ``i >= 0``."""

    def __call__(self, round_num: int) -> float:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class ConstantBeta(BetaSchedule):
    """beta_i = beta for every round."""

    beta: float = 0.5

    def __post_init__(self):
        _check_probability("beta", self.beta)

    def __call__(self, round_num: int) -> float:
        _round_index(round_num)
        return float(self.beta)


@dataclasses.dataclass(frozen=True)
class LinearBeta(BetaSchedule):
    """beta_i = start + (end - start) * min(i, rounds) / rounds.

    Round 0 gives ``start``, round ``rounds`` (and every later one) gives ``end``. The default is
    imitation's ``LinearBetaSchedule``: 1 at round 0 down to 0 at round ``rounds``.
    """

    start: float = 1.0
    end: float = 0.0
    rounds: int = 10

    def __post_init__(self):
        _check_probability("start", self.start)
        _check_probability("end", self.end)
        if (isinstance(self.rounds, bool) or not isinstance(self.rounds, numbers.Integral)
                or self.rounds < 1):
            raise ValueError(f"rounds must be an integer >= 1, got {self.rounds=}")

    def __call__(self, round_num: int) -> float:
        i = _round_index(round_num)
        return float(self.start + (self.end - self.start) * min(i, self.rounds) / self.rounds)


@dataclasses.dataclass(frozen=True)
class ExponentialBeta(BetaSchedule):
    """beta_i = start * decay ** i (decay 1 is a constant schedule)."""

    start: float = 1.0
    decay: float = 0.5

    def __post_init__(self):
        _check_probability("start", self.start)
        if isinstance(self.decay, bool) or not (isinstance(self.decay, numbers.Real)
                                                and 0.0 < self.decay <= 1.0):
            raise ValueError(f"decay must be in (0, 1], got {self.decay=}")

    def __call__(self, round_num: int) -> float:
        i = _round_index(round_num)
        return float(self.start * math.pow(self.decay, i))


SCHEDULES: dict[str, type[BetaSchedule]] = {
    "constant": ConstantBeta,
    "linear": LinearBeta,
    "exponential": ExponentialBeta,
}


def make_schedule(name: str, **kwargs) -> BetaSchedule:
    """The schedule registered as ``name``, built from ``kwargs`` (validated).

    >>> make_schedule("linear", start=1.0, end=0.0, rounds=4)(2)
    0.5
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown beta schedule {name!r}; known: {sorted(SCHEDULES)}")
    cls = SCHEDULES[name]
    params = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ValueError(f"beta schedule {name!r} takes {params}, got unknown {unknown}")
    return cls(**kwargs)
