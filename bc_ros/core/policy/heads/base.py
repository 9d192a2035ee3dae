"""The interface every action head implements, and the registry that maps names to heads.

A head turns an observation embedding ``cond`` (B, D) into a distribution over a chunk of
``horizon`` normalized actions (B, H, A):

    loss(cond, action, mask) -> scalar       training loss; ``mask`` (B, H) marks real actions
    sample(cond, generator, noise) -> (B, H, A)  an action chunk; a seeded ``generator`` makes
                                             it reproducible, given ``noise`` makes it exact

Randomness as inputs (for export, parity checks and replay). A head declares the random tensors a
chunk needs and draws from them deterministically:

    noise_spec(batch) -> {name: (shape, "uniform" | "normal")}   what one call consumes; {} for
                                                                 a deterministic head
    draw_noise(batch, generator) -> {name: tensor}               U[0, 1) or N(0, 1) draws
    sample_from_noise(cond, noise) -> (B, H, A)                  a pure function of its inputs

``sample`` is ``sample_from_noise(cond, noise or draw_noise(...))``: the eager path, the ONNX
graph and the TorchScript trace run the same code. ``sample_from_noise`` is written to trace:
tensor ops only, loops of a fixed length, no Python branch on tensor values (categorical draws
use the inverse CDF of a uniform, not ``torch.multinomial``). It may branch on the options and
on which keys ``noise`` has (the CVAE's latent source): both are fixed at export time.

Heads combine with any encoder (there is no class per combination). Each head file defines its
options as a dataclass, validated in ``__post_init__``.
"""

from __future__ import annotations

import abc
import dataclasses

import torch
from torch import nn

HEADS: dict[str, type["ActionHead"]] = {}


def register(name: str):
    def wrap(cls):
        cls.name = name
        HEADS[name] = cls
        return cls
    return wrap


@dataclasses.dataclass
class HeadSpec:
    cond_dim: int      # observation embedding size D
    action_dim: int    # A
    horizon: int       # H: actions per chunk

    def __post_init__(self):
        if min(self.cond_dim, self.action_dim, self.horizon) < 1:
            raise ValueError(f"cond_dim, action_dim and horizon must be >= 1, got {self}")


class ActionHead(nn.Module, abc.ABC):
    name = ""
    Options: type = dataclasses.dataclass(type("Options", (), {}))

    def __init__(self, spec: HeadSpec, options=None):
        super().__init__()
        self.spec = spec
        self.options = options if options is not None else self.Options()
        # How many of a chunk's first steps anything reads at run time (0: all); the policy
        # sets it. A head whose cost grows with the steps it samples (AR: one token at a time)
        # samples only those and repeats the last for the rest of the chunk.
        self.steps_needed = 0

    @abc.abstractmethod
    def loss(self, cond: torch.Tensor, action: torch.Tensor,
             mask: torch.Tensor | None = None) -> torch.Tensor:
        """Training loss for normalized actions (B, H, A)."""

    def noise_spec(self, batch: int) -> dict[str, tuple[tuple[int, ...], str]]:
        """The random tensors one ``sample_from_noise`` call needs: name -> (shape, "uniform" for
        U[0, 1) or "normal" for N(0, 1))."""
        return {}

    def draw_noise(self, batch: int, generator: torch.Generator | None = None,
                   device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
        """Draw the tensors of ``noise_spec`` in its order (one ``generator`` stream)."""
        draw = {"uniform": torch.rand, "normal": torch.randn}
        return {name: draw[dist](shape, generator=generator, device=device)
                for name, (shape, dist) in self.noise_spec(batch).items()}

    @abc.abstractmethod
    def sample_from_noise(self, cond: torch.Tensor,
                          noise: dict[str, torch.Tensor]) -> torch.Tensor:
        """A normalized action chunk (B, H, A), a deterministic function of cond and noise."""

    def sample(self, cond: torch.Tensor, generator: torch.Generator | None = None,
               noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """A normalized action chunk (B, H, A) from ``noise``, or from fresh draws."""
        if noise is None:
            noise = self.draw_noise(cond.shape[0], generator, cond.device)
        return self.sample_from_noise(cond, noise)


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Categorical draw by inverse CDF: probs (B, K), u (B,) in [0, 1) -> indices (B,) int64.
    Index i is chosen when cdf[i-1] <= u * cdf[-1] < cdf[i], so zero-probability classes (top-k
    masked) are never chosen. Traces to ONNX (CumSum, LessOrEqual, ReduceSum)."""
    cdf = probs.cumsum(-1)                                          # (B, K)
    below = (cdf <= u.unsqueeze(-1) * cdf[:, -1:]).sum(-1)          # (B,)
    return below.clamp(max=probs.shape[-1] - 1)


def masked_mean(per_step: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of (B, H) per-step losses over the steps where ``mask`` is true."""
    if mask is None:
        return per_step.mean()
    mask = mask.to(per_step.dtype)
    return (per_step * mask).sum() / mask.sum().clamp_min(1.0)


def mlp(sizes: list[int], activation=nn.Mish) -> nn.Sequential:
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def make_head(name: str, spec: HeadSpec, **options) -> ActionHead:
    """Build a head by name; unknown names and options are errors that list the valid ones."""
    from bc_ros.core.policy import heads  # noqa: F401  (registers every head)

    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; valid heads: {', '.join(sorted(HEADS))}")
    cls = HEADS[name]
    fields = {f.name for f in dataclasses.fields(cls.Options)}
    unknown = set(options) - fields
    if unknown:
        raise ValueError(f"unknown {name} head options {sorted(unknown)}; valid: {sorted(fields)}")
    return cls(spec, cls.Options(**options))
