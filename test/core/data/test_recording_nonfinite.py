"""Non-finite samples, whatever order they come in: every tick whose chosen sample of a stream is
NaN/inf is flagged bad in the file, the dataset never hands such a value to training, and the
audit counts every such row (also in files written before the recorder flagged them all)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bc_ros.core.data.dataset import EpisodeDataset
from bc_ros.core.data.recording import BAD_VALUE, OK, Recorder, RecorderConfig
from bc_ros.core.data.store import EpisodeStore
from bc_ros.core.data.tools import audit_dataset

NUMERIC = ("state", "action", "executed")
TICKS = 8
# per tick and stream: one or two samples in (t - period, t], each good or not finite; the
# tick takes the last of them
samples_per_tick = st.lists(st.sampled_from(["good", "nan", "inf"]), min_size=1, max_size=2)
episode = st.fixed_dictionaries({s: st.lists(samples_per_tick, min_size=TICKS, max_size=TICKS)
                                 for s in NUMERIC})
# after which ticks the recorder writes: seldom, the later samples are in before it does
updates = st.lists(st.booleans(), min_size=TICKS, max_size=TICKS)


def config(root):
    return RecorderConfig(dataset=str(root), cameras=["center"], camera_yaw_deg=[0.0],
                          camera_lateral_m=[0.0], image_width=8, image_height=6, state_dim=2,
                          action_names=["vx", "yaw_rate"], record_executed=True)


def value(kind, k):
    return {"good": [0.1 * k, -0.1 * k], "nan": [np.nan, 0.1 * k],
            "inf": [0.1 * k, -np.inf]}[kind]


def record(root, plan, update_after=None) -> Recorder:
    rec = Recorder(config(root))
    rec.start(now=0.1)
    for k in range(1, TICKS + 1):
        t = round(0.1 * k, 9)
        rec.add("image_center", t, np.full((6, 8, 3), k, np.uint8))
        for s in NUMERIC:
            kinds = plan[s][k - 1]
            for j, kind in enumerate(kinds):      # the earlier one 40 ms before the tick
                rec.add(s, round(t - 0.04 * (len(kinds) - 1 - j), 9), value(kind, k))
        if update_after is None or update_after[k - 1]:
            rec.update(now=t)
    rec.stop(now=round(0.1 * TICKS, 9), success=True)
    return rec


@settings(max_examples=40, deadline=None, derandomize=True)
@given(plan=episode, update_after=updates)
def test_every_tick_with_a_non_finite_chosen_sample_is_flagged_bad(tmp_path_factory, plan,
                                                                   update_after):
    root = tmp_path_factory.mktemp("rec") / "ds"
    rec = record(root, plan, update_after)
    data = EpisodeStore(str(root)).read(0)
    streams = rec.config.streams
    assert len(data["time"]) == TICKS
    for k in range(TICKS):
        for s in NUMERIC:
            chosen_bad = plan[s][k][-1] != "good"
            flag = data["flags"][k][streams.index(s)]
            assert bool(flag & BAD_VALUE) == chosen_bad, (k, s, plan[s][k], flag)
            assert np.isfinite(data[s][k]).all() == (not chosen_bad)
    bad_ticks = sum(any(plan[s][k][-1] != "good" for s in NUMERIC) for k in range(TICKS))
    assert rec.counts["ticks_flagged"] == bad_ticks
    assert rec.counts["action_nonfinite"] == sum(
        kind != "good" for kinds in plan["action"] for kind in kinds)


def test_the_dataset_yields_no_non_finite_value_even_from_a_file_that_says_ok(tmp_path):
    root = tmp_path / "ds"
    plan = {s: [["good"]] * TICKS for s in NUMERIC}
    plan["action"] = [["good"], ["nan"], ["good"], ["good"], ["inf"], ["good"], ["good"],
                      ["good"]]
    plan["state"] = [["good"], ["good"], ["good"], ["nan"], ["good"], ["good"], ["good"],
                     ["good"]]
    record(root, plan)
    # a file of the recorder before this fix: the values are bad but the flags say ok
    store = EpisodeStore(str(root))
    path = store.episode_path(0)
    import h5py
    with h5py.File(path, "r+") as f:
        f["flags"][...] = OK
    ds = EpisodeDataset(str(root), n_obs_steps=2, horizon=4)
    batch = ds.get_batch(np.arange(len(ds)))
    for key in ("state", "action"):
        assert np.isfinite(batch[key]).all(), key
    # the bad rows are no sample's centre, and no chunk trains on a bad label
    assert {int(t) for t in batch["t"]}.isdisjoint({1, 3, 4})
    act_t = batch["t"][:, None] + np.arange(4)[None]
    assert not (batch["action_mask"] & np.isin(act_t, [1, 4])).any()
    report = audit_dataset(str(root))
    assert report["streams"]["action"]["bad_value"] == 2
    assert report["streams"]["state"]["bad_value"] == 1
    assert not report["ok"]
