"""Model configuration and the output contract shared by every variant of the zoo."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, NamedTuple, Optional, Tuple

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
        kept_steps: the absolute frames kept after each pruning step ((B, f_1), (B, f_2), ...; one step for
            HoT/TPC, several for a ``--prune_schedule`` pyramid; ``kept`` is the last); pass them back as
            ``index=`` to replay the same pruning. ``None`` when nothing was pruned.
    """

    pose: torch.Tensor
    index: Optional[torch.Tensor] = None
    kept: Optional[torch.Tensor] = None
    kept_steps: Optional[Tuple[torch.Tensor, ...]] = None


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
        prune_schedule: H2OT pruning steps ``"block:kept,..."`` (``--prune_schedule``); when given it sets
            ``layer_index`` (its first block) and ``token_num`` (its last kept count); ``None``: HoT's one step
            ``"layer_index:token_num"``.
        prune_strategy: how each step picks frames: cluster (HoT's DPC-kNN), sample, motion.
        recover_strategy: how the full length comes back: attention (TRA), interpolation.
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
    prune_schedule: Optional[str] = None
    prune_strategy: Optional[str] = None
    recover_strategy: Optional[str] = None

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
        if values["prune_schedule"]:
            from hot_pose.models.hot.hierarchy import format_schedule, parse_schedule

            steps = parse_schedule(values["prune_schedule"])
            values.update(prune_schedule=format_schedule(steps), layer_index=steps[0][0], token_num=steps[-1][1])
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


def _as_mapping(args: Any) -> Mapping[str, Any]:
    if args is None:
        return {}
    if isinstance(args, Mapping):
        return args
    return vars(args)


def check_pose_input(
    x: torch.Tensor, name: str, frames: int, n_joints: int, in_channels: int, exact_frames: bool = True
) -> torch.Tensor:
    """Validate a model input and adapt its channels; one rule for every family.

    Args:
        x: (B, T, J, C) 2-D poses (C = 2: x, y; 3: x, y, confidence).
        name: model name for the error messages.
        frames: the length the model was built for; T must equal it (``exact_frames``) or not exceed it.
        n_joints: J the model was built for.
        in_channels: C the model was built for; 2-channel input to a 3-channel model gets a confidence of
            ones appended (the training pipeline feeds x, y only).

    Returns:
        x, or (B, T, J, 3) with the appended confidence.

    Raises:
        ValueError: one line naming the mismatch and the flag that fixes it.
    """
    if x.ndim != 4 or x.shape[2] != n_joints:
        raise ValueError(
            f"{name} expects input (B, T, {n_joints}, C) with {n_joints} joints (--n_joints), got {tuple(x.shape)}"
        )
    t, c = x.shape[1], x.shape[3]
    if t > frames or (exact_frames and t != frames):
        need = "exactly" if exact_frames else "at most"
        raise ValueError(
            f"{name} was built for {need} {frames} frames (--frames {frames}) but got {t}; "
            f"pass windows of {frames} frames or build it with frames={t}"
        )
    if c == in_channels:
        return x
    if c == 2 and in_channels == 3:
        return torch.cat([x, x.new_ones(x.shape[:3] + (1,))], dim=-1)  # (B, T, J, 3): confidence 1
    raise ValueError(f"{name} was built for {in_channels} input channels but got {c} channels; set in_channels={c}")


def check_index(index: Optional[torch.Tensor], batch: int, num_tokens: int) -> None:
    """A kept-frame index passed back into a model must be (B, f)."""
    if index is not None and tuple(index.shape) != (batch, num_tokens):
        raise ValueError(
            f"index must have shape (batch, token_num) = ({batch}, {num_tokens}), got {tuple(index.shape)}"
        )
