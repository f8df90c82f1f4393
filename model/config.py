"""Model configuration and the output contract shared by every variant of the zoo."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, NamedTuple, Optional

import torch


class LiftOutput(NamedTuple):
    """What every model returns.

    Attributes:
        pose: 3-D joints, (B, F', J_out, 3). F' = the input length F for seq2seq models, f for TPC
            models that output only their kept frames.
        index: (B, F') the input frames ``pose`` covers, sorted ascending; ``None`` means all F frames.
            Seq2frame TPC models return it; the flip pass passes it back in as ``index=``.
        kept: (B, f) frames TPC kept inside the network (HoT models report it although their output
            covers all frames); ``None`` when nothing was pruned.
    """

    pose: torch.Tensor
    index: Optional[torch.Tensor] = None
    kept: Optional[torch.Tensor] = None


@dataclass
class ModelConfig:
    """Sizes of a model. ``None`` fields take the variant's reference default (``DEFAULTS``).

    Attributes:
        frames: input length T (``--frames``).
        channel: embedding width C (``--channel``).
        d_hid: MLP hidden width (``--d_hid``).
        token_num: frames kept by TPC, f (``--token_num``).
        layer_index: block before which TPC fires, n (``--layer_index``).
        n_joints: input joints (``--n_joints``).
        out_joints: output joints (``--out_joints``; default ``n_joints``).
        in_channels: input channels per joint (2 = x, y; 3 adds a confidence channel).
        depth: number of blocks (variant default).
        num_heads: attention heads (variant default).
        drop_path: stochastic-depth rate (variant default).
    """

    frames: Optional[int] = None
    channel: Optional[int] = None
    d_hid: Optional[int] = None
    token_num: Optional[int] = None
    layer_index: Optional[int] = None
    n_joints: Optional[int] = None
    out_joints: Optional[int] = None
    in_channels: Optional[int] = None
    depth: Optional[int] = None
    num_heads: Optional[int] = None
    drop_path: Optional[float] = None

    #: defaults shared by all variants (the reference CLI defaults)
    GLOBAL_DEFAULTS = dict(frames=243, channel=512, d_hid=1024, token_num=81, layer_index=3, n_joints=17, in_channels=2)

    @classmethod
    def resolve(cls, args: Any = None, defaults: Optional[Mapping[str, Any]] = None, **overrides: Any) -> "ModelConfig":
        """Merge, by priority: ``overrides`` > non-``None`` attributes/keys of ``args`` > ``defaults``
        (the variant's) > ``GLOBAL_DEFAULTS``. ``args`` may be an ``argparse.Namespace``, a mapping or None."""
        names = [f.name for f in fields(cls)]
        values: dict[str, Any] = {n: None for n in names}
        for source in (cls.GLOBAL_DEFAULTS, defaults or {}, _as_mapping(args), overrides):
            for n in names:
                if source.get(n) is not None:
                    values[n] = source[n]
        if values["out_joints"] is None:
            values["out_joints"] = values["n_joints"]
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


def _as_mapping(args: Any) -> Mapping[str, Any]:
    if args is None:
        return {}
    if isinstance(args, Mapping):
        return args
    return vars(args)
