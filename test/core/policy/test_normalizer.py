import numpy as np
import pytest
import torch

from bc_ros.core.data.stats import feature_stats
from bc_ros.core.policy.normalizer import Normalizer


@pytest.mark.parametrize("mode", ["mean_std", "min_max"])
def test_round_trip_and_range(mode):
    x = np.random.default_rng(0).normal([2.0, -1.0], [0.5, 3.0], (5000, 2)).astype(np.float32)
    n = Normalizer({"action": 2}, {"action": mode}).fit({"action": feature_stats(x)})
    t = torch.as_tensor(x)
    z = n.normalize("action", t)
    torch.testing.assert_close(n.unnormalize("action", z), t, rtol=1e-5, atol=1e-5)
    if mode == "mean_std":
        torch.testing.assert_close(z.mean(0), torch.zeros(2), atol=0.05, rtol=0)
    else:
        assert (z.abs() <= 1.0).float().mean() > 0.97


def test_stats_travel_in_the_state_dict_and_unfitted_refuses():
    n = Normalizer({"state": 3}, {"state": "mean_std"})
    with pytest.raises(RuntimeError, match="no statistics"):
        n.normalize("state", torch.zeros(1, 3))
    n.fit({"state": feature_stats(np.arange(12.0).reshape(4, 3))})
    m = Normalizer({"state": 3}, {"state": "mean_std"})
    m.load_state_dict(n.state_dict())
    torch.testing.assert_close(m.normalize("state", torch.ones(1, 3)),
                               n.normalize("state", torch.ones(1, 3)))
