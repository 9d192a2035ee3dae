"""Property tests of the stream aligner: any stamps in any order (jitter, reordering, drops,
duplicates, zero, negative, non-finite, far in the future or the past) never crash it, and every
tick it answers is what the rule says (the latest accepted sample at or before the tick, never a
newer one; stale exactly when older than the tolerance), checked against a plain model of the
samples it accepted.

Found by these tests (fixed in core/data/align.py, regressions below): a NaN stamp was accepted
and broke the buffer's order, so later ticks got samples newer than the tick or none at all; an
infinite stamp, or one far in the future (a driver's one bad stamp), made the stream refuse every
later sample as ``stamp_backwards`` for good. The recorder, which did not restart a stream's
clock as the policy node's ticker does, stopped recording that stream for the rest of the run.
"""

import math

import pytest

from bc_ros.core.data.align import STAMP_EPS, StreamAligner

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None)
TOLERANCES = {"cam": 0.05, "state": 0.02}
HORIZON = 1.0
RESTART = 0.5

# How the next sample's stamp relates to the stream's clock.
KINDS = ["next", "next", "next", "jitter", "duplicate", "reorder", "drop", "zero", "negative",
         "nan", "inf", "future", "past", "restart"]
OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), st.sampled_from(sorted(TOLERANCES)), st.sampled_from(KINDS),
              st.floats(0.001, 0.05)),
    st.tuples(st.just("sample"), st.sampled_from(["now", "past", "between", "ahead"]),
              st.floats(0.0, 1.5))), max_size=80)


def stamp_of(kind, clock, last, x):
    """(stamp, new clock) for an ``add`` of ``kind`` on a stream whose clock reads ``clock``."""
    return {"next": (clock + x, clock + x), "jitter": (clock + x - 0.004, clock + x),
            "duplicate": (last if last is not None else clock, clock),
            "reorder": (clock - x, clock), "drop": (None, clock + 3 * x),
            "zero": (0.0, clock), "negative": (-x, clock), "nan": (math.nan, clock),
            "inf": (math.inf, clock), "future": (clock + 100 * x, clock),
            "past": (clock - 100 * x, clock), "restart": (x, x)}[kind]


class Model:
    """What the aligner must have accepted: per stream, (stamp, value) in order."""

    def __init__(self, restart_after):
        self.restart_after = restart_after
        self.kept = {s: [] for s in TOLERANCES}

    def expect_accepted(self, stream, stamp) -> bool:
        kept = self.kept[stream]
        if not math.isfinite(stamp) or stamp <= 0.0:
            return False
        if kept and stamp < kept[-1][0]:
            return self.restart_after is not None and kept[-1][0] - stamp >= self.restart_after
        return True

    def add(self, stream, stamp, value):
        kept = self.kept[stream]
        if kept and stamp < kept[-1][0]:
            kept.clear()                             # the stream's clock restarted
        if kept and stamp == kept[-1][0]:
            kept[-1] = (stamp, value)
        else:
            kept.append((stamp, value))

    def check(self, tick, t):
        for s, kept in self.kept.items():
            used = tick.stamps[s]
            assert used is None or used <= t + STAMP_EPS, f"{s}: sample at {used} for tick {t}"
            before = [(st_, v) for st_, v in kept if st_ <= t + STAMP_EPS]
            if not before:
                assert s in tick.missing and used is None
                continue
            stamp, value = before[-1]
            if used is None:                         # only if it fell out of the horizon
                assert stamp < kept[-1][0] - HORIZON, f"{s}: {stamp} dropped within the horizon"
                assert s in tick.missing
                continue
            assert used == stamp, f"{s}: tick {t} used {used}, the latest at or before is {stamp}"
            assert tick.skew[s] == pytest.approx(t - stamp)
            if t - stamp > TOLERANCES[s] + STAMP_EPS:
                assert s in tick.stale and tick.values[s] is None
            else:
                assert s not in tick.stale and s not in tick.missing
                assert tick.values[s] == value


def run(ops, restart_after):
    aligner = StreamAligner(TOLERANCES, horizon=HORIZON, restart_after=restart_after)
    model = Model(restart_after)
    clock = {s: 1.0 for s in TOLERANCES}
    last = {s: None for s in TOLERANCES}
    times = []
    for n, op in enumerate(ops):
        if op[0] == "add":
            _, stream, kind, x = op
            stamp, clock[stream] = stamp_of(kind, clock[stream], last[stream], x)
            if stamp is None:
                continue
            expected = model.expect_accepted(stream, stamp)
            assert aligner.add(stream, stamp, n) == expected, (stream, kind, stamp)
            if expected:
                model.add(stream, stamp, n)
                last[stream] = stamp
            continue
        _, where, x = op
        newest = max(clock.values())
        t = {"now": newest, "past": newest - x, "between": newest - 0.01 * x,
             "ahead": newest + 0.01 * x}[where]
        tick = aligner.sample(t)
        model.check(tick, t)
        times.append((t, tick))
    return aligner, times


@FAST
@given(ops=OPS)
def test_any_stamps_give_the_latest_sample_at_or_before_each_tick(ops):
    aligner, ticks = run(ops, restart_after=None)     # run checks each tick against the model
    assert len(ticks) == sum(op[0] == "sample" for op in ops)
    assert all(t.time == at for at, t in ticks)


@FAST
@given(ops=OPS)
def test_any_stamps_with_clock_restarts_give_the_latest_sample_at_or_before_each_tick(ops):
    aligner, ticks = run(ops, restart_after=RESTART)  # run checks each tick against the model
    assert len(ticks) == sum(op[0] == "sample" for op in ops)
    assert all(t.time == at for at, t in ticks)


@FAST
@given(ops=OPS, start=st.floats(0.01, 500.0))
def test_no_sample_silences_a_stream_for_longer_than_restart_after(ops, start):
    """Whatever came before, a stream that then sends fresh samples for longer than
    ``restart_after`` is used again, with its fresh values."""
    aligner, _ = run(ops, restart_after=RESTART)
    dt = 0.01
    stamps = [start + k * dt for k in range(int((RESTART + 0.1) / dt))]
    for k, s in enumerate(stamps):
        for stream in TOLERANCES:
            aligner.add(stream, s, ("fresh", k))
    tick = aligner.sample(stamps[-1])
    assert tick.complete, (tick.missing, tick.stale)
    assert all(v == ("fresh", len(stamps) - 1) for v in tick.values.values())


@FAST
@given(ops=OPS)
def test_ticks_in_order_never_go_back_in_their_samples(ops):
    aligner, _ = run(ops, restart_after=None)
    newest = max((aligner.newest(s) or 0.0) for s in TOLERANCES)
    used = [aligner.sample(newest - 0.2 + 0.01 * k).stamps for k in range(40)]
    for s in TOLERANCES:
        seen = [u[s] for u in used if u[s] is not None]
        assert seen == sorted(seen)


# ---- regressions: what the properties above found ---------------------------------------------
def test_a_nan_or_infinite_stamp_is_rejected_and_counted():
    a = StreamAligner({"cam": 0.1})
    assert a.add("cam", 1.0, "a")
    assert not a.add("cam", math.nan, "nan")
    assert not a.add("cam", math.inf, "inf")
    assert a.rejected[("cam", "nonfinite_stamp")] == 2
    assert a.add("cam", 1.05, "b")
    assert a.sample(1.06).values["cam"] == "b"


def test_one_stamp_far_in_the_future_restarts_the_stream_instead_of_silencing_it():
    a = StreamAligner({"cam": 0.1}, restart_after=RESTART)
    a.add("cam", 1.0, "a")
    a.add("cam", 1e9, "bad clock")        # one message stamped by a wrong clock
    assert a.add("cam", 1.1, "b") and a.restarts["cam"] == 1
    assert a.sample(1.1).values["cam"] == "b"
    plain = StreamAligner({"cam": 0.1})   # without restart_after the caller decides (the ticker)
    plain.add("cam", 1e9, "bad clock")
    assert not plain.add("cam", 1.1, "b") and plain.rejected[("cam", "stamp_backwards")] == 1
    with pytest.raises(ValueError, match="restart_after must be > 0"):
        StreamAligner({"cam": 0.1}, restart_after=0.0)
