"""The interface every action head implements, and the registry that maps names to heads.

A head turns an observation embedding ``cond`` (B, D) into a distribution over a chunk of
``horizon`` normalized actions (B, H, A):

    loss(cond, action, mask) -> scalar    training loss; ``mask`` (B, H) marks real actions
    sample(cond, generator)  -> (B, H, A)  an action chunk; a seeded ``generator`` makes it
                                          reproducible

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

    @abc.abstractmethod
    def loss(self, cond: torch.Tensor, action: torch.Tensor,
             mask: torch.Tensor | None = None) -> torch.Tensor:
        """Training loss for normalized actions (B, H, A)."""

    @abc.abstractmethod
    def sample(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A normalized action chunk (B, H, A)."""


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
