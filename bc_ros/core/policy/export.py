"""Export a fitted Policy's chunk prediction to ONNX (or TorchScript) and check it against eager.

The exported graph is ``predict_chunk`` for a fixed batch size: normalize the state, encode,
sample the head, unnormalize the actions. Its randomness is explicit: every tensor of the head's
``noise_spec`` is an input named ``noise_<name>`` (U[0, 1) or N(0, 1) draws, see heads/base.py),
so a caller (or the parity check) feeds the same noise to the graph and to PyTorch::

    inputs   images   uint8   (B, n_obs_steps, V, 3, H, W)
             state    float32 (B, n_obs_steps, S)        only when state_dim > 0
             goal     float32 (B, G)                      only when goal_dim > 0
             noise_*  float32 head-specific               e.g. noise_x_T (B, H*A) for diffusion
    output   actions  float32 (B, horizon, A)             unnormalized

    export_onnx(policy, "policy.onnx")            # -> "dynamo" or "torchscript" (exporter used)
    check_parity(policy, "policy.onnx", seed=0)   # -> max |onnxruntime - eager|

The CVAE's latent source (bank or prior) and every head option are fixed at export time.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch
from torch import nn

NOISE_PREFIX = "noise_"


class StepModule(nn.Module):
    """``ObservationEncoder.encode_steps`` with the state normalization in front: images
    (B, T, V, 3, H, W) uint8, state (B, T, S) raw -> step features (B, T, step_dim)."""

    def __init__(self, policy):
        super().__init__()
        self.policy = policy
        self.input_names = ["images"] + (["state"] if policy.config.state_dim else [])

    def forward(self, images, state=None):
        norm = self.policy.normalizer
        if state is not None:   # the normalizer's arithmetic, without its fitted check
            state = (state - norm.state_offset) / norm.state_scale
        return self.policy.encoder.encode_steps(images, state)


class StepsChunkModule(nn.Module):
    """Step features -> an unnormalized chunk: fuse (+ goal), sample the head from the given
    noise, unnormalize. steps (B, n_obs_steps, step_dim), goal (B, G), noise_* -> (B, horizon,
    A)."""

    def __init__(self, policy, batch: int = 1):
        super().__init__()
        self.policy = policy
        self.noise_names = list(policy.head.noise_spec(batch))
        self.input_names = (["steps"] + (["goal"] if policy.config.goal_dim else [])
                            + [NOISE_PREFIX + n for n in self.noise_names])

    def forward(self, *inputs):
        named = dict(zip(self.input_names, inputs))
        p, norm = self.policy, self.policy.normalizer
        cond = p.fuse(named["steps"], named.get("goal"))
        noise = {n: named[NOISE_PREFIX + n] for n in self.noise_names}
        return p.head.sample_from_noise(cond, noise) * norm.action_scale + norm.action_offset


class DecodeBeginModule(nn.Module):
    """A chunk's decoding state for a head that decodes in order (AR; ``decoding.py``): steps
    (B, n_obs_steps, step_dim) and goal (B, G) -> the input gates of every position
    (B, n, 3h) and the first hidden state (B, h)."""

    def __init__(self, policy):
        super().__init__()
        self.policy = policy
        self.input_names = ["steps"] + (["goal"] if policy.config.goal_dim else [])
        self.output_names = ["gi", "hidden"]

    def forward(self, steps, goal=None):
        return self.policy.head.decode_begin(self.policy.fuse(steps, goal))


class DecodeStepModule(nn.Module):
    """One step's tokens: gi (B, A, 3h) and u (B, A) of its positions, hidden (B, h), the
    previous token (B,) int64 -> the step's unnormalized action (B, A), the hidden state and
    the last token after it."""

    def __init__(self, policy):
        super().__init__()
        self.policy = policy
        self.input_names = ["gi", "hidden", "prev", "u"]
        self.output_names = ["action", "hidden_out", "prev_out"]

    def forward(self, gi, hidden, prev, u):
        head, norm = self.policy.head, self.policy.normalizer
        tokens, hidden, prev = head.decode_tokens(gi, hidden, prev, u)
        return head.centers[tokens] * norm.action_scale + norm.action_offset, hidden, prev


class ChunkModule(nn.Module):
    """``Policy.predict_chunk`` as a module of positional tensors (the export signature): the
    two halves ``StepModule`` and ``StepsChunkModule``, which the onnxruntime backend exports
    separately."""

    def __init__(self, policy, batch: int = 1):
        super().__init__()
        if not bool(policy.normalizer.fitted):
            raise RuntimeError("the policy's normalizer has no statistics: fit it (or load a "
                               "checkpoint) before exporting")
        self.batch = batch
        self.step, self.chunk = StepModule(policy), StepsChunkModule(policy, batch)
        self.noise_names = self.chunk.noise_names
        self.input_names = self.step.input_names + self.chunk.input_names[1:]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        n = len(self.step.input_names)
        return self.chunk(self.step(*inputs[:n]), *inputs[n:])


def example_inputs(policy, batch: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the export signature: images, state, goal, and the head's noise."""
    c, g = policy.config, torch.Generator().manual_seed(seed)
    w, h = c.image_size
    out = {"images": torch.randint(0, 256, (batch, c.n_obs_steps, len(c.cameras), 3, h, w),
                                   generator=g, dtype=torch.uint8)}
    if c.state_dim:
        out["state"] = torch.randn((batch, c.n_obs_steps, c.state_dim), generator=g)
    if c.goal_dim:
        out["goal"] = torch.randn((batch, c.goal_dim), generator=g)
    for name, value in policy.head.draw_noise(batch, g).items():
        out[NOISE_PREFIX + name] = value
    return out


def export_module_onnx(module: nn.Module, args: tuple, path: str, *,
                       exporters=("dynamo", "torchscript"), opset: int | None = None,
                       output: str = "actions") -> str:
    """Write ``module`` (with an ``input_names`` attribute, and ``output_names`` when it has
    several outputs, else the one is named ``output``) to ONNX with the first of ``exporters``
    that succeeds; returns its name. Raises RuntimeError with every exporter's failure when
    none does."""
    errors = []
    for name in exporters:
        kw = dict(input_names=module.input_names,
                  output_names=list(getattr(module, "output_names", [output])),
                  dynamo=name == "dynamo", verbose=False)
        if opset is not None:
            kw["opset_version"] = opset
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")      # tracer and exporter chatter
                torch.onnx.export(module, args, path, **kw)
            return name
        except Exception as e:   # noqa: BLE001  (report every exporter's failure together)
            errors.append(f"{name} exporter: {type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}")
    raise RuntimeError("ONNX export failed; " + "; ".join(errors))


def export_onnx(policy, path: str, *, batch: int = 1, dynamo: bool | None = None,
                opset: int | None = None) -> str:
    """Write the policy's chunk prediction for ``batch`` samples to an ONNX file. ``dynamo``:
    None tries the dynamo exporter (torch.export) and falls back to the TorchScript one; True or
    False uses only that one. Returns the exporter used: "dynamo" or "torchscript"."""
    module = ChunkModule(policy, batch).eval()
    args = tuple(example_inputs(policy, batch).values())
    exporters = ("dynamo", "torchscript") if dynamo is None else \
        ("dynamo" if dynamo else "torchscript",)
    return export_module_onnx(module, args, path, exporters=exporters, opset=opset)


def export_torchscript(policy, path: str, *, batch: int = 1) -> None:
    """Write the chunk prediction as a traced TorchScript module (same inputs as the ONNX)."""
    module = ChunkModule(policy, batch).eval()
    args = tuple(example_inputs(policy, batch).values())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, args, check_trace=False)
    traced.save(path)


@dataclasses.dataclass
class ExportedPolicy:
    """Runs an exported file (.onnx through onnxruntime, anything else as TorchScript) on a dict
    of named inputs; returns the actions as a numpy array."""
    path: str
    threads: int = 0            # onnxruntime intra-op threads (0: its default)

    def __post_init__(self):
        if self.path.endswith(".onnx"):
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            self._session = ort.InferenceSession(self.path, opts,
                                                 providers=["CPUExecutionProvider"])
            self.input_names = [i.name for i in self._session.get_inputs()]
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # TorchScript is deprecated, still loads
                self._module = torch.jit.load(self.path)
            self._session = None

    def __call__(self, inputs: dict[str, torch.Tensor]) -> np.ndarray:
        if self._session is not None:
            feed = {n: inputs[n].numpy() for n in self.input_names}
            return self._session.run(["actions"], feed)[0]
        with torch.no_grad():
            return self._module(*inputs.values()).numpy()


def eager_chunk(policy, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The eager PyTorch path (``Policy.predict_chunk``'s steps) with the given noise."""
    noise = {k[len(NOISE_PREFIX):]: v for k, v in inputs.items() if k.startswith(NOISE_PREFIX)}
    return policy.predict_chunk(inputs["images"], inputs.get("state"), inputs.get("goal"),
                                noise=noise)


def check_parity(policy, path: str, seed: int = 0, *, batch: int = 1) -> float:
    """Max absolute difference between the exported file and eager PyTorch on the same random
    observation and the same noise (seeded by ``seed``)."""
    policy.eval()
    inputs = example_inputs(policy, batch, seed)
    exported = ExportedPolicy(path)(inputs)
    return float(np.abs(exported - eager_chunk(policy, inputs).numpy()).max())
