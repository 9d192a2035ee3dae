"""The trainer: what a run leaves on disk, determinism, resume, and DDP with two gloo processes."""

import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from bc_ros.core.policy.checkpoint import CheckpointError, load_checkpoint
from bc_ros.core.train.config import TrainConfig
from bc_ros.core.train.trainer import batches, random_shift, train
from test.core.data.test_dataset import make_dataset

SMALL = {"channels": [8, 16], "keypoints": 8, "view_dim": 16, "state_dim_out": 8,
         "embed_dim": 32}


def config(tmp_path, dataset, **kw):
    base = dict(dataset=dataset, out=str(tmp_path / "run"), head="gaussian",
                head_options={"hidden": 32}, encoder=SMALL, steps=40, batch_size=8,
                val_every=10, save_every=10, warmup_steps=5, val_fraction=0.25,
                progress=False, threads=1)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("d") / "ds", lengths=(20, 20, 20, 20))


def weights(path):
    policy, _ = load_checkpoint(path)
    return {k: v.clone() for k, v in policy.state_dict().items()}


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_writes_checkpoints_curves_and_an_episode_split(tmp_path, dataset):
    summary = train(config(tmp_path, dataset, keep_every=20))
    run = tmp_path / "run"
    for name in ("best.pt", "last.pt", "train_state.pt", "train.json", "step_0000020.pt",
                 "step_0000040.pt"):
        assert (run / name).exists(), name
    assert any(f.startswith("events") for f in os.listdir(run / "tb"))
    report = json.loads((run / "train.json").read_text())
    split = report["split"]
    assert len(split["val"]) == 1 and not set(split["val"]) & set(split["train"])
    assert [h["step"] for h in report["history"]] == [10, 20, 30, 40]
    assert all(h["val_loss"] is not None for h in report["history"])
    policy, payload = load_checkpoint(str(run / "best.pt"))
    assert payload["extra"]["split"] == split
    assert policy.config.action_names == ["vx", "vy", "vz", "yaw_rate"]
    assert summary["history"][-1]["train_loss"] < summary["history"][0]["train_loss"]


def test_the_same_seed_gives_the_same_weights(tmp_path, dataset):
    train(config(tmp_path / "a", dataset, steps=15, head="diffusion",
                 head_options={"hidden": 32}))
    train(config(tmp_path / "b", dataset, steps=15, head="diffusion",
                 head_options={"hidden": 32}))
    assert same(weights(tmp_path / "a" / "run" / "last.pt"),
                weights(tmp_path / "b" / "run" / "last.pt"))


def test_resume_continues_where_the_run_stopped(tmp_path, dataset):
    train(config(tmp_path / "straight", dataset, steps=30))

    def crash(step, batch):
        if step == 25:                      # killed between the saves at 20 and 30
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train(config(tmp_path / "resumed", dataset, steps=30), on_batch=crash)
    summary = train(config(tmp_path / "resumed", dataset, steps=30, resume=True))
    assert summary["steps"] == 30
    assert same(weights(tmp_path / "straight" / "run" / "last.pt"),
                weights(tmp_path / "resumed" / "run" / "last.pt"))


def test_extra_datasets_add_training_samples_and_keep_validation_on_the_first(tmp_path, dataset):
    extra = make_dataset(tmp_path / "extra", lengths=(10,))
    summary = train(config(tmp_path, dataset, steps=2, extra_datasets=[extra]))
    plain = train(config(tmp_path / "plain", dataset, steps=2))
    assert summary["train_samples"] == plain["train_samples"] + 10
    assert summary["val_samples"] == plain["val_samples"]


def test_fine_tuning_starts_from_the_checkpoint_and_refuses_another_model(tmp_path, dataset):
    base = tmp_path / "base"
    train(config(base, dataset))
    start = str(base / "run" / "last.pt")
    # one step at a negligible learning rate: the fine-tuned policy is still the checkpoint's,
    # normalizer included (not refit on the data)
    train(config(tmp_path, dataset, init_checkpoint=start, steps=1, lr=1e-12, warmup_steps=0,
                 val_every=1, save_every=1, extra_datasets=[dataset]))
    tuned, old = weights(str(tmp_path / "run" / "last.pt")), weights(start)
    assert all(torch.allclose(tuned[k].float(), old[k].float(), atol=1e-6) for k in old)
    with pytest.raises(CheckpointError, match="head: checkpoint has 'gaussian', this run "
                                              "builds 'mog'"):
        train(config(tmp_path / "other", dataset, init_checkpoint=start, head="mog",
                     head_options={}))
    with pytest.raises(ValueError, match="exclude each other"):
        config(tmp_path, dataset, init_checkpoint=start, resume=True)


def test_resume_without_a_previous_run_says_so(tmp_path, dataset):
    with pytest.raises(CheckpointError, match="cannot resume"):
        train(config(tmp_path, dataset, resume=True))


def test_bad_configs_are_refused_with_the_value():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        TrainConfig(dataset="d", out="o", steps=0)
    with pytest.raises(ValueError, match="dataset and out are required"):
        TrainConfig()


def test_ranks_draw_disjoint_samples_of_each_epoch():
    a = np.concatenate([next(g) for g in [batches(100, 10, 0, 0, 2, 0)] * 5])
    b = np.concatenate([next(g) for g in [batches(100, 10, 0, 1, 2, 0)] * 5])
    assert not set(a) & set(b) and len(set(a) | set(b)) == 100


def test_random_shift_moves_whole_images_and_keeps_their_content():
    img = torch.zeros(4, 1, 1, 3, 12, 12, dtype=torch.uint8)
    img[..., 5:7, 5:7] = 255
    out = random_shift(img, 2, torch.Generator().manual_seed(0))
    assert out.shape == img.shape and out.dtype == torch.uint8
    assert all(int((o == 255).sum()) == 3 * 4 for o in out)      # the square moved, intact


# ---- DDP: two gloo processes -------------------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, world, port, cfg, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    seen = []
    summary = train(cfg, on_batch=lambda step, b: seen.extend(zip(b["episode"].tolist(),
                                                                  b["t"].tolist())))
    torch.save({"seen": seen, "digest": summary["weights_sha256"]}, f"{out}/rank{rank}.pt")


@pytest.mark.slow
def test_ddp_two_processes_see_disjoint_data_and_end_with_identical_weights(tmp_path, dataset):
    # 4 episodes, 1 for validation: 60 training samples; batch 6 per rank -> 5 steps per epoch
    cfg = config(tmp_path, dataset, steps=5, batch_size=6, save_every=5, val_every=5)
    mp.spawn(_rank_main, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    seen = [r["seen"] for r in ranks]
    assert len(seen[0]) == len(seen[1]) == 30
    assert not set(seen[0]) & set(seen[1])                 # one epoch, split between ranks
    assert ranks[0]["digest"] == ranks[1]["digest"]        # DDP kept the replicas equal
    from bc_ros.core.train.trainer import weights_digest
    saved, _ = load_checkpoint(str(tmp_path / "run" / "last.pt"))
    assert weights_digest(saved) == ranks[0]["digest"]


def test_the_policy_sends_the_command_type_and_interface_it_was_recorded_with(tmp_path):
    """A dataset of joint positions in joint trajectories gives a checkpoint whose policy_node
    sends them the same way (its command_type and command_interface default to the spec's)."""
    from bc_ros.core.data.dataset import EpisodeDataset
    from bc_ros.core.data.store import EpisodeStore
    from bc_ros.core.train.trainer import policy_config_for

    root = make_dataset(tmp_path / "ds", lengths=(5,))
    EpisodeStore(root).update_info(command_type="joint_trajectory", command_interface="position")
    ds = EpisodeDataset(root, n_obs_steps=1, horizon=1)
    spec = policy_config_for(config(tmp_path, root), ds).spec()
    assert (spec["command_type"], spec["command_interface"]) == ("joint_trajectory", "position")
