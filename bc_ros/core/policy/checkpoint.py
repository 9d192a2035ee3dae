"""Checkpoints: weights + config + normalizer + observation/command spec + versions, one file.

Saved with ``torch.save`` as a dict of tensors and JSON text, and loaded with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers: a
checkpoint can never run code. A missing, truncated or foreign file, a policy without
normalization statistics, or a spec that does not match what the caller has, fails with a message
that says what differs.
"""

from __future__ import annotations

import json
import os
import platform

import torch

from bc_ros import __version__
from bc_ros.core.policy.policy import Policy, PolicyConfig

FORMAT = "bc_ros.policy.v1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason."""


def save_checkpoint(policy: Policy, path: str, extra: dict | None = None) -> None:
    """Write atomically (temporary file + rename): a crash never leaves half a checkpoint."""
    if not bool(policy.normalizer.fitted):
        raise CheckpointError("refusing to save a policy whose normalizer has no statistics")
    payload = {
        "format": FORMAT,
        "config": json.dumps(policy.config.to_dict()),
        "spec": json.dumps(policy.config.spec()),
        "versions": json.dumps({"bc_ros": __version__, "torch": torch.__version__,
                                "python": platform.python_version()}),
        "extra": json.dumps(extra or {}),
        "state_dict": {k: v.detach().cpu() for k, v in policy.state_dict().items()},
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str) -> dict:
    """The raw payload, checked for format (config, spec, versions and extra decoded)."""
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated zip, pickle refusal, ...
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}: {e}); "
                              f"it may be truncated or not a bc_ros checkpoint") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not a bc_ros policy checkpoint (format {found!r}, "
                              f"expected {FORMAT!r})")
    for key in ("config", "spec", "versions", "extra"):
        payload[key] = json.loads(payload[key])
    # written before commands had an interface, when every command carried velocities
    payload["spec"].setdefault("command_interface", "velocity")
    encoder = payload["config"].get("encoder")
    if isinstance(encoder, dict):
        # written before EncoderConfig had an activation, when the only one was mish
        encoder.setdefault("activation", "mish")
    return payload


def load_checkpoint(path: str, expect_spec: dict | None = None) -> tuple[Policy, dict]:
    """Rebuild the policy. ``expect_spec``: keys of ``PolicyConfig.spec()`` the caller relies
    on (cameras, image_size, action_names, ...); any difference is an error naming it."""
    payload = read_checkpoint(path)
    try:
        config = PolicyConfig(**payload["config"])
        policy = Policy(config)
        policy.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint {path} does not fit this version of bc_ros: "
                              f"{e}") from None
    if not bool(policy.normalizer.fitted):
        raise CheckpointError(f"checkpoint {path} has no normalization statistics")
    if expect_spec:
        spec = payload["spec"]
        diffs = [f"{k}: checkpoint has {spec.get(k)!r}, expected {v!r}"
                 for k, v in expect_spec.items() if _norm(spec.get(k)) != _norm(v)]
        if diffs:
            raise CheckpointError(f"checkpoint {path} does not match: " + "; ".join(diffs))
    policy.eval()
    return policy, payload


def _norm(v):
    return list(v) if isinstance(v, (tuple, list)) else v
