"""Every head, parametrized: training reduces the loss, shapes, save/load, determinism, spec
checks, and the inference timeline (chunks, temporal ensembling)."""

import numpy as np
import pytest
import torch

from bc_ros.core.data.dataset import EpisodeDataset
from bc_ros.core.policy.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from bc_ros.core.policy.encoders import EncoderConfig
from bc_ros.core.policy.heads import HEADS
from bc_ros.core.policy.policy import Policy, PolicyConfig
from test.core.data.test_dataset import make_dataset

ALL_HEADS = sorted(HEADS)
SMALL = EncoderConfig(channels=(8, 16), keypoints=8, view_dim=16, state_dim_out=8,
                      embed_dim=32)


def make_policy(head, ds, horizon=4, n_action_steps=2, **kw):
    cfg = PolicyConfig(head=head, head_options={"hidden": 32} if head != "ar" else
                       {"hidden": 32, "bins": 32}, encoder=SMALL, cameras=ds.cameras,
                       image_size=(8, 6), state_dim=2, action_names=ds.action_names,
                       n_obs_steps=2, horizon=horizon, n_action_steps=n_action_steps, **kw)
    policy = Policy(cfg)
    policy.normalizer.fit(ds.stats())
    return policy


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("d") / "ds", lengths=(20, 20, 20))
    return EpisodeDataset(root, n_obs_steps=2, horizon=4)


def batch_of(ds, n=32):
    b = ds.get_batch(np.arange(n) % len(ds))
    return {k: torch.as_tensor(v) for k, v in b.items()}


@pytest.mark.parametrize("head", ALL_HEADS)
def test_training_reduces_the_loss(dataset, head):
    torch.manual_seed(0)
    policy = make_policy(head, dataset)
    optim = torch.optim.Adam(policy.parameters(), lr=3e-3)
    batch = batch_of(dataset, 48)
    losses = []
    for _ in range(60):
        loss = policy(batch)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss))
    assert np.mean(losses[-10:]) < np.mean(losses[:10]), losses[::10]


@pytest.mark.parametrize("head", ALL_HEADS)
def test_chunks_have_the_right_shape_and_seeded_sampling_repeats(dataset, head):
    policy = make_policy(head, dataset).eval()
    b = batch_of(dataset, 5)
    out1 = policy.predict_chunk(b["images"], b["state"], generator=torch.Generator().manual_seed(3))
    out2 = policy.predict_chunk(b["images"], b["state"], generator=torch.Generator().manual_seed(3))
    assert out1.shape == (5, 4, 4) and torch.isfinite(out1).all()
    torch.testing.assert_close(out1, out2)


@pytest.mark.parametrize("head", ALL_HEADS)
def test_checkpoint_round_trip_gives_the_same_actions(dataset, head, tmp_path):
    policy = make_policy(head, dataset).eval()
    path = tmp_path / "p.pt"
    save_checkpoint(policy, str(path))
    loaded, payload = load_checkpoint(str(path), expect_spec={"cameras": dataset.cameras})
    b = batch_of(dataset, 3)
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    torch.testing.assert_close(loaded.predict_chunk(b["images"], b["state"], generator=g()),
                               policy.predict_chunk(b["images"], b["state"], generator=g()))
    assert payload["versions"]["torch"] == torch.__version__


def test_checkpoint_errors_say_what_is_wrong(dataset, tmp_path):
    policy = make_policy("gaussian", dataset)
    path = tmp_path / "p.pt"
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(str(path))
    save_checkpoint(policy, str(path))
    with pytest.raises(CheckpointError, match="cameras: checkpoint has .*expected \\['center'\\]"):
        load_checkpoint(str(path), expect_spec={"cameras": ["center"]})
    truncated = tmp_path / "t.pt"
    truncated.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(str(truncated))
    foreign = tmp_path / "f.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a bc_ros policy checkpoint"):
        load_checkpoint(str(foreign))
    evil = tmp_path / "evil.pt"
    torch.save({"format": "bc_ros.policy.v1", "x": object()}, evil)  # needs unpickling code
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(str(evil))
    unfitted = Policy(policy.config)
    with pytest.raises(CheckpointError, match="no statistics"):
        save_checkpoint(unfitted, str(tmp_path / "u.pt"))


class CountingHead(torch.nn.Module):
    """Replaces a head: chunk k is [k*10 + 0, k*10 + 1, ...] so the timeline is visible."""

    def __init__(self, horizon):
        super().__init__()
        self.horizon, self.calls = horizon, 0

    def sample(self, cond, generator=None):
        base = self.calls * 10
        self.calls += 1
        return (base + torch.arange(self.horizon, dtype=torch.float32)).view(1, -1, 1).expand(
            cond.shape[0], self.horizon, 4)


def obs(ds):
    return np.zeros((3, 6, 8, 3), np.uint8), np.zeros(2, np.float32)


def identity_actions(policy):
    policy.normalizer.action_scale.fill_(1.0)
    policy.normalizer.action_offset.fill_(0.0)


def test_select_action_executes_n_action_steps_of_each_chunk_in_order(dataset):
    policy = make_policy("gaussian", dataset, horizon=4, n_action_steps=3)
    identity_actions(policy)
    policy.head = CountingHead(4)
    got = [policy.select_action(*obs(dataset))[0] for _ in range(7)]
    assert got == [0, 1, 2, 10, 11, 12, 20]
    policy.reset()
    assert policy.select_action(*obs(dataset))[0] == 30  # a fresh chunk after reset


def test_queued_actions_are_the_rest_of_the_executed_chunk(dataset):
    """What a trajectory-taking robot gets beyond this tick's action: exactly what the next
    ticks' select_action returns without a new prediction."""
    policy = make_policy("gaussian", dataset, horizon=4, n_action_steps=3)
    identity_actions(policy)
    policy.head = CountingHead(4)
    assert policy.queued_actions().shape == (0, len(dataset.action_names))
    queued = []
    for _ in range(4):
        policy.select_action(*obs(dataset))
        queued.append(policy.queued_actions()[:, 0].tolist())
    assert queued == [[1, 2], [2], [], [11, 12]]   # the 4th tick predicted chunk 1
    policy.reset()
    assert len(policy.queued_actions()) == 0


def test_queued_actions_are_empty_with_temporal_ensembling(dataset):
    """Every tick predicts anew and averages: there is no plan for the next ticks."""
    policy = make_policy("gaussian", dataset, horizon=3, n_action_steps=1, temporal_ensemble=0.5)
    policy.head = CountingHead(3)
    policy.select_action(*obs(dataset))
    assert policy.queued_actions().shape == (0, len(dataset.action_names))


def test_runner_hands_out_the_upcoming_actions_clamped_and_cut_before_nan(dataset):
    from bc_ros.core.policy.runner import PolicyRunner, RunnerConfig

    policy = make_policy("gaussian", dataset, horizon=4, n_action_steps=4)
    identity_actions(policy)
    policy.head = CountingHead(4)                 # chunk 0: 0, 1, 2, 3 in every dimension
    runner = PolicyRunner(policy, RunnerConfig(low=[-1.0] * 4, high=[2.5] * 4, upcoming=True))
    images, state = obs(dataset)
    out = runner.act({"images": dict(zip(dataset.cameras, images)), "state": state})
    assert out.command.tolist() == [0.0] * 4
    assert out.upcoming.tolist() == [[1.0] * 4, [2.0] * 4, [2.5] * 4]   # 3 clamped to 2.5
    assert runner.counts["clamped"] == 0          # counted at its own tick, not now
    policy._actions[1] = np.array([np.nan, 0.0, 0.0, 0.0])   # a non-finite queued action
    out = runner.act({"images": dict(zip(dataset.cameras, images)), "state": state})
    assert out.command.tolist() == [1.0] * 4 and out.upcoming.shape == (0, 4)


class TwoWayHead(torch.nn.Module):
    """Replaces a head: each candidate chunk goes one way (+1) or the other (-1) by a coin."""

    def __init__(self, horizon):
        super().__init__()
        self.horizon = horizon

    def sample(self, cond, generator=None):
        coin = torch.rand(cond.shape[0], generator=generator)
        way = torch.where(coin < 0.5, 1.0, -1.0)                         # (K,)
        return way.view(-1, 1, 1).expand(cond.shape[0], self.horizon, 4)


def ways(policy, dataset, seed, ticks=24):
    policy.reset()
    g = torch.Generator().manual_seed(seed)
    return [float(policy.select_action(*obs(dataset), generator=g)[0]) for _ in range(ticks)]


@pytest.mark.parametrize("n_action_steps", [2, 4])
def test_coherent_chunks_keep_the_way_the_first_chunk_took(dataset, n_action_steps):
    """A chunk drawn afresh may switch modes (a path that is neither way round); with K
    candidates the policy keeps the one that continues the last chunk's plan (its unexecuted
    tail, or its last action when it had none). The first chunk still draws the way: over seeds
    both ways are taken."""
    policy = make_policy("gaussian", dataset, horizon=4, n_action_steps=n_action_steps)
    identity_actions(policy)
    policy.head = TwoWayHead(4)
    switching = [ways(policy, dataset, seed) for seed in range(8)]
    assert any(len(set(w)) == 2 for w in switching)      # fresh draws switch within an episode
    policy.config.chunk_candidates = 8
    coherent = [ways(policy, dataset, seed) for seed in range(8)]
    assert all(len(set(w)) == 1 for w in coherent)
    assert {w[0] for w in coherent} == {1.0, -1.0}
    with pytest.raises(ValueError, match="chunk_candidates must be >= 1"):
        PolicyConfig(chunk_candidates=0)


def test_temporal_ensembling_weights_older_predictions_more(dataset):
    policy = make_policy("gaussian", dataset, horizon=3, n_action_steps=1, temporal_ensemble=0.5)
    identity_actions(policy)
    policy.head = CountingHead(3)
    a0 = policy.select_action(*obs(dataset))[0]           # only chunk 0: its step 0
    a1 = policy.select_action(*obs(dataset))[0]           # chunk 0 step 1 (=1), chunk 1 step 0 (=10)
    assert a0 == 0
    w_old, w_new = 1.0, np.exp(-0.5)
    assert a1 == pytest.approx((w_old * 1 + w_new * 10) / (w_old + w_new))


@pytest.mark.parametrize("fusion", ["concat", "gru"])
def test_select_action_with_cached_step_features_equals_predict_chunk(dataset, fusion):
    """select_action encodes only the newest frame per tick; the chunk must be the one
    predict_chunk computes from the whole window."""
    import dataclasses
    torch.manual_seed(0)
    policy = make_policy("gaussian", dataset, horizon=1, n_action_steps=1)
    policy.config.encoder = dataclasses.replace(SMALL, fusion=fusion)
    fresh = Policy(policy.config)
    fresh.normalizer.fit(dataset.stats())
    fresh.eval()
    b = dataset.get_batch([0, 1, 2])
    frames = b["images"][:, -1].transpose(0, 1, 3, 4, 2)          # 3 ticks of (V, H, W, 3)
    states = b["state"][:, -1]
    for k in range(3):
        got = fresh.select_action(frames[k], states[k])
    window = torch.as_tensor(np.stack([frames[1], frames[2]]).transpose(0, 1, 4, 2, 3))[None]
    st = torch.as_tensor(np.stack([states[1], states[2]]))[None]
    want = fresh.predict_chunk(window, st)[0, 0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_encoder_activation_is_a_config_choice_and_checked():
    import dataclasses
    relu = dataclasses.replace(SMALL, activation="relu")
    from bc_ros.core.policy.encoders import ConvEncoder
    assert any(isinstance(m, torch.nn.ReLU) for m in ConvEncoder(relu).modules())
    with pytest.raises(ValueError, match="activation must be one of"):
        dataclasses.replace(SMALL, activation="tanh")


def test_a_checkpoint_from_before_command_interfaces_sends_velocities(dataset, tmp_path):
    import json
    policy = make_policy("gaussian", dataset, command_interface="position")
    assert policy.config.spec()["command_interface"] == "position"
    path = tmp_path / "old.pt"
    save_checkpoint(policy, str(path))
    payload = torch.load(str(path), weights_only=True)
    for key in ("config", "spec"):                # as checkpoints written before it existed
        d = json.loads(payload[key])
        del d["command_interface"]
        payload[key] = json.dumps(d)
    del payload["digest"]                         # nor had they a digest
    torch.save(payload, str(path))
    loaded, payload = load_checkpoint(str(path))
    assert loaded.config.command_interface == "velocity"
    assert payload["spec"]["command_interface"] == "velocity"


def test_a_checkpoint_from_before_the_activation_field_loads_as_mish(dataset, tmp_path):
    import dataclasses
    import json
    policy = make_policy("gaussian", dataset)
    policy = Policy(dataclasses.replace(policy.config, encoder=dataclasses.replace(
        policy.config.encoder, activation="mish")))
    policy.normalizer.load_state_dict(make_policy("gaussian", dataset).normalizer.state_dict())
    policy.eval()
    path = tmp_path / "old.pt"
    save_checkpoint(policy, str(path))
    payload = torch.load(str(path), weights_only=True)
    config = json.loads(payload["config"])
    del config["encoder"]["activation"]           # as checkpoints written before it existed
    payload["config"] = json.dumps(config)
    del payload["digest"]                         # nor had they a digest
    torch.save(payload, str(path))
    loaded, _ = load_checkpoint(str(path))
    assert loaded.config.encoder.activation == "mish"
    assert EncoderConfig().activation == "relu"    # the default for new policies
    b = batch_of(dataset, 2)
    torch.testing.assert_close(loaded.predict_chunk(b["images"], b["state"]),
                               policy.predict_chunk(b["images"], b["state"]))
