"""Property tests: whatever bytes sit where a checkpoint should be, loading it either gives back
exactly the saved policy or raises a CheckpointError that names the file; never another
exception, never a silently different policy.

Found by these tests (fixed in core/policy/checkpoint.py, each kept as a regression test below):
a flipped bit in the weights loaded as a different policy without a word (torch's zip container
has no check: 248 of 300 random one-to-three-bit flips loaded); a flip inside the JSON text
escaped as a bare JSONDecodeError; a file of the right format with a field missing or of another
type escaped as KeyError / AttributeError.
"""

import copy
import io
import json
import os
import tempfile

import pytest
import torch

from bc_ros.core.data.dataset import EpisodeDataset
from bc_ros.core.policy.checkpoint import (FORMAT, CheckpointError, content_digest,
                                           load_checkpoint, save_checkpoint)
from test.core.data.test_dataset import make_dataset
from test.core.policy.test_policy import make_policy

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Deterministic: the same examples on every run, no example database between runs.
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10 ** 6) | st.floats(allow_nan=False)
    | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(checkpoint bytes, the raw payload as saved, the saved policy's state_dict)."""
    folder = tmp_path_factory.mktemp("ckpt")
    ds = EpisodeDataset(make_dataset(folder / "ds", lengths=(12,)), n_obs_steps=2, horizon=4)
    torch.manual_seed(0)
    policy = make_policy("gaussian", ds)
    path = folder / "p.pt"
    save_checkpoint(policy, str(path))
    raw = torch.load(path, map_location="cpu", weights_only=True)
    return path.read_bytes(), raw, {k: v.clone() for k, v in policy.state_dict().items()}


def load_bytes(data: bytes, name: str = "suspect.pt"):
    """load_checkpoint on ``data`` written to a file of its own."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        return path, _load(path)


def _load(path):
    try:
        return load_checkpoint(path)
    except CheckpointError as e:
        assert path in str(e), f"the error does not name the file: {e}"
        return e


def same_weights(policy, state) -> bool:
    mine = policy.state_dict()
    return mine.keys() == state.keys() and all(torch.equal(mine[k], state[k]) for k in state)


def as_bytes(payload: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


@FAST
@given(data=st.binary(max_size=4096))
def test_random_bytes_are_a_checkpoint_error(data):
    _, result = load_bytes(data)
    assert isinstance(result, CheckpointError)


@FAST
@given(fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_a_truncated_checkpoint_is_a_checkpoint_error(saved, fraction):
    data = saved[0]
    _, result = load_bytes(data[:int(len(data) * fraction)])
    assert isinstance(result, CheckpointError)


@FAST
@given(flips=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 7)),
                      min_size=1, max_size=3))
def test_flipped_bits_give_the_saved_policy_or_a_checkpoint_error(saved, flips):
    data, _, state = saved
    damaged = bytearray(data)
    for where, bit in flips:
        damaged[int(where * len(data))] ^= 1 << bit
    _, result = load_bytes(bytes(damaged))
    if not isinstance(result, CheckpointError):  # the flip hit bytes nothing reads
        assert same_weights(result[0], state)


@FAST
@given(data=st.data())
def test_a_payload_of_the_right_format_with_wrong_fields_is_a_checkpoint_error(saved, data):
    """Another writer (another version, a hand-made file): each field deleted, replaced by any
    JSON or any value, or one entry of the config changed, with the digest made to match."""
    payload = copy.deepcopy(saved[1])
    key = data.draw(st.sampled_from(["config", "spec", "versions", "extra", "state_dict",
                                     "config entry"]))
    how = data.draw(st.sampled_from(["delete", "json", "value"]))
    if key == "config entry":
        config = json.loads(payload["config"])
        entry = data.draw(st.sampled_from(sorted(config)))
        if how == "delete":
            del config[entry]
        else:
            config[entry] = data.draw(JSON_VALUES)
        payload["config"] = json.dumps(config)
    elif how == "delete":
        del payload[key]
    elif how == "json":
        payload[key] = json.dumps(data.draw(JSON_VALUES))
    else:
        payload[key] = data.draw(JSON_VALUES | st.just(torch.zeros(2)))
    try:
        payload["digest"] = content_digest(payload)
    except (KeyError, AttributeError, TypeError):
        pass  # a field the digest cannot cover: the saved digest stays and must not matter
    _, result = load_bytes(as_bytes(payload))
    if not isinstance(result, CheckpointError):  # a change the model does not depend on
        assert same_weights(result[0], saved[2])


# ---- regressions: what the properties above found ---------------------------------------------
def test_a_flipped_bit_in_the_weights_is_named_damaged(saved, tmp_path):
    data, raw, _ = saved
    payload = copy.deepcopy(raw)
    name = sorted(payload["state_dict"])[0]
    payload["state_dict"][name].view(-1)[0] += 1.0   # what a flipped bit in the zip does
    path = tmp_path / "flipped.pt"
    path.write_bytes(as_bytes(payload))
    with pytest.raises(CheckpointError, match="flipped.pt is damaged: its content does not "
                                              "match the SHA-256"):
        load_checkpoint(str(path))


def test_broken_json_text_and_missing_fields_are_checkpoint_errors(saved, tmp_path):
    broken = copy.deepcopy(saved[1])
    broken["spec"] = broken["spec"][:-3]
    broken["digest"] = content_digest(broken)
    path = tmp_path / "broken.pt"
    path.write_bytes(as_bytes(broken))
    with pytest.raises(CheckpointError, match="broken.pt is damaged: spec is not JSON"):
        load_checkpoint(str(path))
    for key in ("state_dict", "versions"):
        missing = copy.deepcopy(saved[1])
        del missing[key]
        path.write_bytes(as_bytes(missing))
        with pytest.raises(CheckpointError, match=f"broken.pt is damaged: {key} is missing"):
            load_checkpoint(str(path))
    listed = copy.deepcopy(saved[1])
    listed["config"] = "[1, 2]"
    listed["digest"] = content_digest(listed)
    path.write_bytes(as_bytes(listed))
    with pytest.raises(CheckpointError, match="config is a JSON list, expected an object"):
        load_checkpoint(str(path))


def test_a_checkpoint_written_before_the_digest_still_loads(saved, tmp_path):
    old = copy.deepcopy(saved[1])
    del old["digest"]
    path = tmp_path / "old.pt"
    path.write_bytes(as_bytes(old))
    policy, payload = load_checkpoint(str(path))
    assert same_weights(policy, saved[2]) and payload["format"] == FORMAT
    assert payload["spec"]["command_interface"] == "velocity"
