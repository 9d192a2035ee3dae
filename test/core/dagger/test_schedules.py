"""Beta schedules: values per round, validation errors that show the bad value, the registry."""

import numpy as np
import pytest

from bc_ros.core.dagger.schedules import (SCHEDULES, ConstantBeta, ExponentialBeta, LinearBeta,
                                          make_schedule)


def test_constant_schedule_is_the_same_every_round():
    s = ConstantBeta(0.3)
    assert [s(i) for i in range(5)] == [0.3] * 5


def test_linear_schedule_ramps_then_stays_at_the_end_value():
    s = LinearBeta(start=1.0, end=0.0, rounds=4)
    assert [s(i) for i in range(7)] == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0, 0.0, 0.0])
    up = LinearBeta(start=0.2, end=0.6, rounds=2)
    assert [up(i) for i in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.6])


def test_exponential_schedule_decays_geometrically():
    s = ExponentialBeta(start=1.0, decay=0.5)
    assert [s(i) for i in range(4)] == pytest.approx([1.0, 0.5, 0.25, 0.125])
    s = ExponentialBeta(start=0.8, decay=0.9)
    assert s(3) == pytest.approx(0.8 * 0.9 ** 3)
    assert ExponentialBeta(start=0.7, decay=1.0)(50) == pytest.approx(0.7)


def test_round_numbers_accept_numpy_integers():
    assert LinearBeta(rounds=4)(np.int64(2)) == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [-1, 1.5, "2", None])
def test_round_numbers_must_be_non_negative_integers(bad):
    with pytest.raises(ValueError, match="round must be an integer >= 0"):
        ConstantBeta(0.5)(bad)


@pytest.mark.parametrize("make, match", [
    (lambda: ConstantBeta(1.5), "beta=1.5"),
    (lambda: ConstantBeta(-0.1), "beta=-0.1"),
    (lambda: ConstantBeta(float("nan")), "beta=nan"),
    (lambda: LinearBeta(start=2.0), "start=2.0"),
    (lambda: LinearBeta(end=-1.0), "end=-1.0"),
    (lambda: LinearBeta(rounds=0), "self.rounds=0"),
    (lambda: LinearBeta(rounds=2.5), "self.rounds=2.5"),
    (lambda: ExponentialBeta(decay=0.0), "self.decay=0.0"),
    (lambda: ExponentialBeta(decay=1.1), "self.decay=1.1"),
    (lambda: ExponentialBeta(start=1.2), "start=1.2"),
])
def test_invalid_parameters_are_rejected_showing_the_value(make, match):
    with pytest.raises(ValueError, match=match.replace(".", r"\.")):
        make()


def test_make_schedule_builds_each_registered_schedule():
    assert set(SCHEDULES) == {"constant", "linear", "exponential"}
    assert make_schedule("constant", beta=0.25)(7) == 0.25
    assert make_schedule("linear", start=1.0, end=0.0, rounds=4)(2) == pytest.approx(0.5)
    assert make_schedule("exponential", start=1.0, decay=0.5)(2) == pytest.approx(0.25)


def test_make_schedule_errors_name_the_choices():
    with pytest.raises(ValueError, match=r"unknown beta schedule 'cosine'.*constant.*exponential"):
        make_schedule("cosine")
    with pytest.raises(ValueError, match=r"takes \['start', 'decay'\].*\['rounds'\]"):
        make_schedule("exponential", rounds=3)
    with pytest.raises(ValueError, match="self.rounds=0"):
        make_schedule("linear", rounds=0)
