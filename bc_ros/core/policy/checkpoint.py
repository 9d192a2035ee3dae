"""Checkpoints: weights + config + normalizer + observation/command spec + versions, one file.

Saved with ``torch.save`` as a dict of tensors and JSON text, and loaded with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers: a
checkpoint can never run code. A SHA-256 of the content (JSON text and every tensor's bytes)
travels in the file: torch's zip container has no check of its own, and a flipped bit in the
weights loaded as a silently different policy. A missing, truncated, damaged or foreign file, a
policy without normalization statistics, or a spec that does not match what the caller has,
fails with a ``CheckpointError`` that names the file and says what differs; no other exception
leaves ``read_checkpoint`` or ``load_checkpoint``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform

import torch

from bc_ros import __version__
from bc_ros.core.policy.policy import Policy, PolicyConfig

FORMAT = "bc_ros.policy.v1"
JSON_KEYS = ("config", "spec", "versions", "extra")


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
    payload["digest"] = content_digest(payload)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def content_digest(payload: dict) -> str:
    """SHA-256 of what a checkpoint means: its JSON fields and every tensor (name, dtype, shape,
    bytes), in a fixed order."""
    h = hashlib.sha256()
    for key in JSON_KEYS:
        h.update(key.encode() + b"\0" + payload[key].encode() + b"\0")
    for name, t in sorted(payload["state_dict"].items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def read_checkpoint(path: str) -> dict:
    """The raw payload, checked for format and integrity (config, spec, versions and extra
    decoded). Anything wrong is a ``CheckpointError`` naming ``path``."""
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
    damaged = f"checkpoint {path} is damaged"
    for key in JSON_KEYS:
        if not isinstance(payload.get(key), str):
            raise CheckpointError(f"{damaged}: {key} is missing or not JSON text")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{damaged}: state_dict is missing or not named tensors")
    stored = payload.get("digest")  # absent in checkpoints written before it was added
    if stored is not None and stored != content_digest(payload):
        raise CheckpointError(f"{damaged}: its content does not match the SHA-256 stored in it "
                              f"(a flipped bit on disk or in a copy); copy it again or re-train")
    for key in JSON_KEYS:
        try:
            payload[key] = json.loads(payload[key])
        except ValueError as e:
            raise CheckpointError(f"{damaged}: {key} is not JSON ({e})") from None
    for key in ("config", "spec"):
        if not isinstance(payload[key], dict):
            raise CheckpointError(f"{damaged}: {key} is a JSON {type(payload[key]).__name__}, "
                                  f"expected an object")
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
    except (TypeError, ValueError, RuntimeError, KeyError, AttributeError) as e:
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
