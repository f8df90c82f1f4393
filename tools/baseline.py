"""Trivial lifting baselines evaluated end to end with HoT's Human3.6M protocol: the floor every model must beat.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) reports P1/P2 on S9+S11. This tool runs the same data pipeline (``load_h36m``,
``PoseWindowDataset``, flip test-time augmentation, root zeroed, per-action aggregation) with two models
that need no training loop:

* ``mean``: always predict the mean root-relative 3-D pose of the training subjects (ignores the input);
* ``linear``: per-frame ridge regression from the frame's 2-D pose (root-relative, plus the 2-D root)
  to the root-relative 3-D pose, fitted in closed form on the training subjects, mirrored copies included.

    python -m tools.baseline --root_path dataset/ --keypoints gt --method linear

``--report`` and ``--markdown`` are checked before the data is read (an existing file is kept unless
``--overwrite``) and written atomically, together, after the evaluation.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from hot_pose.data.dataset import H36MData, PoseWindowDataset, flip_pose, load_h36m
from hot_pose.data.h36m import DataError, parse_actions
from hot_pose.training.metrics import ActionErrorAccumulator, mpjpe_per_sample, p_mpjpe_per_sample, write_eval_report
from hot_pose.utils.console import OneLineArgumentParser, fail, guarded, int_at_least
from hot_pose.utils.outputs import OutputError, StagedOutputs, WriteError, check_output_file, describe_write_error

_logger = logging.getLogger("tools.baseline")


def _features(pose_2d: np.ndarray) -> np.ndarray:
    """(..., J, 2) screen coordinates → (..., 2J + 3): root-relative 2-D, 2-D root, bias."""
    root = pose_2d[..., :1, :]
    rel = (pose_2d - root).reshape(*pose_2d.shape[:-2], -1)
    return np.concatenate([rel, root.reshape(*pose_2d.shape[:-2], 2), np.ones((*pose_2d.shape[:-2], 1))], axis=-1)


class MeanPose:
    """Predicts the training-set mean root-relative pose for every frame."""

    def __init__(self, data: H36MData, subjects: Sequence[str], downsample: int = 1) -> None:
        total, count = 0.0, 0
        for seq in data.select(subjects):
            pose = seq.pose_3d[::downsample].astype(np.float64)
            pose[:, 0] = 0
            total = total + pose.sum(axis=0)
            count += len(pose)
        self.mean = (total / count).astype(np.float32)  # (J, 3)

    def __call__(self, pose_2d: np.ndarray) -> np.ndarray:
        """(..., J, 2) → (..., J, 3)."""
        return np.broadcast_to(self.mean, (*pose_2d.shape[:-1], 3)).copy()


class LinearLift:
    """Ridge regression ``features(2-D) → root-relative 3-D``, accumulated sequence by sequence."""

    def __init__(self, data: H36MData, subjects: Sequence[str], downsample: int = 1, ridge: float = 1e-3,
                 flip: bool = True) -> None:
        joints = data.num_joints
        dim = 2 * joints + 3
        xtx, xty = np.zeros((dim, dim)), np.zeros((dim, 3 * joints))
        for seq in data.select(subjects):
            inputs, targets = [seq.pose_2d[::downsample]], [seq.pose_3d[::downsample]]
            if flip:
                inputs.append(flip_pose(inputs[0], data.kps_left, data.kps_right))
                targets.append(flip_pose(targets[0], data.joints_left, data.joints_right))
            for kp, pose in zip(inputs, targets):
                x = _features(kp.astype(np.float64))  # (N, 2J + 3)
                y = pose.astype(np.float64).copy()
                y[:, 0] = 0
                y = y.reshape(len(y), -1)  # (N, 3J)
                xtx += x.T @ x
                xty += x.T @ y
        reg = ridge * np.trace(xtx) / dim * np.eye(dim)
        reg[-1, -1] = 0  # do not shrink the bias
        self.weights = np.linalg.solve(xtx + reg, xty)  # (2J + 3, 3J)
        self.joints = joints

    def __call__(self, pose_2d: np.ndarray) -> np.ndarray:
        """(..., J, 2) → (..., J, 3)."""
        out = _features(pose_2d.astype(np.float64)) @ self.weights
        return out.reshape(*pose_2d.shape[:-2], self.joints, 3).astype(np.float32)


METHODS = {"mean": MeanPose, "linear": LinearLift}
#: column names of the paper's per-action tables
SHORT_NAMES = {"Directions": "Dir.", "Discussion": "Disc.", "Eating": "Eat", "Greeting": "Greet", "Phoning": "Phone",
               "Photo": "Photo", "Posing": "Pose", "Purchases": "Purch.", "Sitting": "Sit", "SittingDown": "SitD.",
               "Smoking": "Smoke", "Waiting": "Wait", "WalkDog": "WalkD.", "Walking": "Walk", "WalkTogether": "WalkT."}


def evaluate(model, dataset: PoseWindowDataset, batch_size: int, p2_compat: bool = False,
             actions: Optional[List[str]] = None) -> ActionErrorAccumulator:
    """Run ``model`` over the test windows with flip TTA and accumulate per-action P1/P2.

    seq2seq (stride ≠ 1): every frame of every window is scored, padding included (HoT's protocol);
    seq2frame (stride 1): only the centre frame.
    """
    acc = ActionErrorAccumulator(actions, p2_compat=p2_compat)
    centre = (dataset.frames - 1) // 2
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        inputs = batch["input_2d"].numpy()  # (B, 2, F, J, 2) or (B, F, J, 2) without test flip
        if dataset.test_flip:
            mirrored = flip_pose(model(inputs[:, 1]), dataset.joints_left, dataset.joints_right)
            pred = (model(inputs[:, 0]) + mirrored) / 2
        else:
            pred = model(inputs)
        pred, gt = torch.from_numpy(pred), batch["gt_3d"].clone()  # (B, F, J, 3)
        if dataset.stride == 1:
            pred, gt = pred[:, centre:centre + 1], gt[:, centre:centre + 1]
        pred[:, :, 0] = 0
        gt[:, :, 0] = 0
        acc.update(batch["action"], mpjpe_per_sample(pred, gt), p_mpjpe_per_sample(pred, gt))
    return acc


def markdown_table(acc: ActionErrorAccumulator, title: str) -> str:
    """The per-action numbers as a markdown table (actions as columns, like the paper)."""
    rows = acc.per_action()
    summary = acc.summary()
    head = "| " + title + " | " + " | ".join(SHORT_NAMES.get(a, a) for a in rows) + " | Avg |"
    sep = "|---" * (len(rows) + 2) + "|"
    p1 = "| P1 (mm) | " + " | ".join(f"{r['p1']:.1f}" for r in rows.values()) + f" | **{summary['p1']:.1f}** |"
    p2 = "| P2 (mm) | " + " | ".join(f"{r['p2']:.1f}" for r in rows.values()) + f" | **{summary['p2']:.1f}** |"
    return "\n".join([head, sep, p1, p2]) + "\n"


def build_parser() -> argparse.ArgumentParser:
    positive = int_at_least(1)
    parser = OneLineArgumentParser(prog="python -m tools.baseline", description=__doc__.split("\n\n")[0],
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--root_path", default="dataset/", help="folder with the Human3.6M npz files")
    parser.add_argument("--keypoints", default="gt", help="2-D source: gt, cpn_ft_h36m_dbb, sh_pt_mpii, ...")
    parser.add_argument("--method", choices=sorted(METHODS), default="linear", help="baseline to evaluate")
    parser.add_argument("--frames", type=positive, default=243, help="window length F of the test protocol (odd)")
    parser.add_argument("--stride", type=positive, default=None,
                        help="test stride: F (seq2seq, default) or 1 (seq2frame, centre frame scored)")
    parser.add_argument("--actions", default="*", help="comma-separated actions (exact names) or *")
    parser.add_argument("--downsample", type=positive, default=1, help="temporal subsampling of the test sequences")
    parser.add_argument("--fit_downsample", type=positive, default=1, help="temporal subsampling when fitting")
    parser.add_argument("--subjects_train", default="S1,S5,S6,S7,S8", help="subjects the baseline is fitted on")
    parser.add_argument("--subjects_test", default="S9,S11", help="evaluation subjects")
    parser.add_argument("--no_test_flip", action="store_true", help="disable flip test-time augmentation")
    parser.add_argument("--p2_compat", action="store_true", help="reproduce the reference's mixed-batch P2 "
                        "(a batch holding several sequences credits each sample the batch's mean P2)")
    parser.add_argument("--batch_size", type=positive, default=64, help="windows per batch")
    parser.add_argument("--report", default=None, help="JSON report path (default: no file)")
    parser.add_argument("--markdown", default=None, help="also write the table as markdown to this path")
    parser.add_argument("--overwrite", action="store_true", help="replace --report / --markdown if they exist")
    parser.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 done, 2 bad flags, data or destination, 1 failed)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    return guarded(lambda: _run(args), verbose=args.verbose)


def _run(args) -> int:
    split = lambda text: [s.strip() for s in text.split(",") if s.strip()]  # noqa: E731
    train_subjects, test_subjects = split(args.subjects_train), split(args.subjects_test)
    stride = args.frames if args.stride is None else args.stride
    try:
        if args.frames % 2 == 0:
            raise OutputError(f"--frames {args.frames} is even, but windows are centred on a frame: use an odd "
                              f"--frames such as {args.frames - 1} or {args.frames + 1}")
        report = check_output_file(args.report, "--report", args.overwrite, "baseline.json") if args.report else None
        md = check_output_file(args.markdown, "--markdown", args.overwrite, "baseline.md") if args.markdown else None
        if report is not None and md is not None and report.resolve() == md.resolve():
            raise OutputError("--report and --markdown name the same file; give them different names")
        actions = parse_actions(args.actions)
        start = time.time()
        data = load_h36m(args.root_path, keypoints=args.keypoints, subjects=train_subjects + test_subjects)
        _logger.info("loaded %s in %.1f s", ", ".join(data.files), time.time() - start)
        model = METHODS[args.method](data, train_subjects, downsample=args.fit_downsample)
        test_set = PoseWindowDataset(data, test_subjects, frames=args.frames, stride=stride, train=False,
                                     actions=actions, downsample=args.downsample, test_flip=not args.no_test_flip)
    except (DataError, ValueError) as exc:  # OutputError is a ValueError
        return fail(exc, 2)
    start = time.time()
    acc = evaluate(model, test_set, args.batch_size, args.p2_compat, actions)
    _logger.info("evaluated %d windows in %.1f s", len(test_set), time.time() - start)
    protocol: Dict[str, object] = {"tool": "tools.baseline", "method": args.method, **test_set.protocol(),
                                   "subjects_train": train_subjects, "fit_downsample": args.fit_downsample,
                                   "scored_frames": "centre" if stride == 1 else "all frames of every window",
                                   "p2": "reference mixed-batch" if args.p2_compat else "per sample",
                                   "root_path": str(args.root_path)}
    print(acc.table())
    summary = acc.summary()
    print(f"p1: {summary['p1']:.2f}, p2: {summary['p2']:.2f}")
    metrics_log = logging.getLogger("hot_pose.training.metrics")  # it would name the temporary file
    level = metrics_log.level
    try:
        metrics_log.setLevel(logging.WARNING)
        with StagedOutputs() as stage:
            if report is not None:
                write_eval_report(stage.path(report), acc.to_dict(), protocol)
            if md is not None:
                stage.write(md, markdown_table(acc, f"{args.method} ({args.keypoints}, F={args.frames}, "
                                                    f"stride {stride})"))
    except WriteError as exc:
        return fail(exc, 1)
    except OSError as exc:  # write_eval_report's own write
        return fail(describe_write_error(exc, report), 1)
    finally:
        metrics_log.setLevel(level)
    for path in filter(None, (report, md)):
        _logger.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
