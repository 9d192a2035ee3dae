"""The EMA of the weights: its warm-up, what the checkpoints carry, and resume."""

import pytest
import torch

from bc_ros.core.train.ema import EMA
from bc_ros.core.train.trainer import train
from test.core.train.test_trainer import config, dataset, same, weights  # noqa: F401


def test_the_decay_warms_up_and_stays_under_its_cap():
    ema = EMA(torch.nn.Linear(2, 2), power=0.75, max_decay=0.999)
    assert ema.decay(0) == 0.0                       # the first update copies the weights
    assert 0.98 < ema.decay(500) < ema.decay(2500) < ema.decay(10_000) <= 0.999
    assert ema.decay(10 ** 9) == 0.999
    with pytest.raises(ValueError, match="max_decay"):
        EMA(torch.nn.Linear(2, 2), max_decay=1.0)


def test_the_average_follows_the_weights_smoothly():
    model = torch.nn.Linear(1, 1, bias=False)
    ema = EMA(model)
    values = []
    for step in range(200):
        model.weight.data.fill_(1.0 if step % 2 else -1.0)   # a weight jumping between +-1
        ema.update(model)
        values.append(float(ema.model.weight))
    assert abs(values[-1]) < 0.05          # the average of the jumps, not the last jump
    assert not ema.model.weight.requires_grad


def test_checkpoints_carry_the_ema_and_train_state_the_raw_weights(tmp_path, dataset):  # noqa: F811
    train(config(tmp_path, dataset, steps=20))
    state = torch.load(tmp_path / "run" / "train_state.pt", weights_only=True)
    saved = weights(tmp_path / "run" / "last.pt")
    assert same(saved, state["ema"]["weights"])
    assert not same(saved, state["model"])              # the raw weights differ from the EMA
    plain = tmp_path / "plain"
    train(config(plain, dataset, steps=20, ema=False))
    plain_state = torch.load(plain / "run" / "train_state.pt", weights_only=True)
    assert same(weights(plain / "run" / "last.pt"), plain_state["model"])


