"""Action heads, one file each; importing this package registers them all."""

from bc_ros.core.policy.heads import autoregressive, cvae, diffusion, gaussian, mog  # noqa: F401
from bc_ros.core.policy.heads.base import HEADS, ActionHead, HeadSpec, make_head  # noqa: F401
