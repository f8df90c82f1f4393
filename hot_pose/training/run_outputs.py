"""Run outputs of the training engine: resolved config, per-epoch CSV, TensorBoard scalars, training curves.

Part of a re-implementation of HoT (Li et al., CVPR 2024, arXiv:2311.12028). A run folder holds:

* ``configs.txt`` (the reference's layout: ``==> Args:``, sorted ``  key: value`` lines, ``==> Args:``) and
  ``config.json`` (the same, plus the resolved model sizes);
* ``train.log`` (written by the logging setup), ``metrics.csv`` (one row per epoch, rewritten from the run's
  history so a resumed run has no duplicate rows), ``tensorboard/`` (if tensorboard is installed) and
  ``curves.png`` (loss and P1/P2 per epoch, drawn at the end).

Only the main process of a distributed run writes.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

_logger = logging.getLogger(__name__)

__all__ = ["RunTracker", "HISTORY_FIELDS", "RUN_OUTPUTS", "write_configs", "existing_outputs", "remove_outputs",
           "remove_temporaries"]

#: columns of metrics.csv
HISTORY_FIELDS = ("epoch", "lr", "loss", "p1", "p2", "best_p1", "best_epoch", "train_s", "test_s", "samples_per_s")
_TB_WARNED = False


#: what a training run writes into its folder (globs); a fresh run refuses a folder holding any of them
RUN_OUTPUTS = ("*.pth", "metrics.csv", "config.json", "configs.txt", "train.log", "curves.png", "tensorboard")
#: temporaries of the atomic writes (``hot_pose.models.checkpoint.atomic_save``, configs, metrics.csv)
TEMPORARIES = (".*.pth.*.tmp", ".config.json.tmp", ".configs.txt.tmp", ".metrics.csv.tmp")


def existing_outputs(run_dir: Path) -> List[Path]:
    """The run outputs (``RUN_OUTPUTS``) present in ``run_dir``, sorted; ``[]`` for a missing folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted({path for pattern in RUN_OUTPUTS for path in run_dir.glob(pattern)})


def remove_outputs(run_dir: Path) -> List[Path]:
    """Delete the run outputs in ``run_dir`` (``--overwrite``); returns what was removed."""
    removed = existing_outputs(run_dir)
    for path in removed:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return removed


def remove_temporaries(run_dir: Path) -> List[Path]:
    """Delete leftovers of interrupted atomic writes (a kill during a save leaves one); returns them."""
    stale = sorted({path for pattern in TEMPORARIES for path in Path(run_dir).glob(pattern) if path.is_file()})
    for path in stale:
        path.unlink()
    return stale


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_configs(run_dir: Path, config: Mapping[str, Any]) -> None:
    """Write ``configs.txt`` (reference layout) and ``config.json`` into ``run_dir`` (each atomically)."""
    lines = ["==> Args:"] + [f"  {k}: {config[k]}" for k in sorted(config)] + ["==> Args:"]
    _write_atomic(run_dir / "configs.txt", "\n".join(lines) + "\n")
    _write_atomic(run_dir / "config.json", json.dumps(dict(config), indent=2, sort_keys=True, default=str) + "\n")


class RunTracker:
    """Per-epoch outputs of the main process (a silent no-op elsewhere).

    Args:
        run_dir: the run folder.
        enabled: False on non-main processes.
        first_epoch: first epoch this process logs (TensorBoard drops later events of a resumed run).
    """

    def __init__(self, run_dir: Path, enabled: bool = True, first_epoch: int = 1) -> None:
        self.run_dir, self.enabled = Path(run_dir), enabled
        self.writer = self._tensorboard(first_epoch) if enabled else None

    def _tensorboard(self, first_epoch: int):
        global _TB_WARNED
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            if not _TB_WARNED:
                _logger.warning("tensorboard is not installed: no TensorBoard scalars (pip install tensorboard)")
                _TB_WARNED = True
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=first_epoch)

    def log_epoch(self, row: Mapping[str, Any], history: List[Mapping[str, Any]]) -> None:
        """Record one epoch: TensorBoard scalars and the whole ``history`` as ``metrics.csv``."""
        if not self.enabled:
            return
        if self.writer is not None:
            for key in ("loss", "p1", "p2", "lr", "samples_per_s"):
                if row.get(key) is not None:
                    self.writer.add_scalar(f"{'train' if key in ('loss', 'lr', 'samples_per_s') else 'test'}/{key}",
                                           row[key], row["epoch"])
            self.writer.flush()
        self.write_csv(history)

    def write_csv(self, history: List[Mapping[str, Any]]) -> None:
        """``metrics.csv`` with one row per epoch of ``history`` (atomic replace)."""
        tmp = self.run_dir / ".metrics.csv.tmp"
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(history)
        os.replace(tmp, self.run_dir / "metrics.csv")

    def plot(self, history: List[Mapping[str, Any]]) -> Optional[Path]:
        """Draw ``curves.png`` (training loss; test P1/P2 per epoch). Returns its path."""
        if not self.enabled or not history:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        epochs = [r["epoch"] for r in history]
        fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 4))
        ax_loss.plot(epochs, [r["loss"] for r in history], marker="o")
        ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
        for key, label in (("p1", "P1 (MPJPE)"), ("p2", "P2 (P-MPJPE)")):
            ax_err.plot(epochs, [r[key] for r in history], marker="o", label=label)
        ax_err.set(xlabel="epoch", ylabel="mm", title="test error")
        ax_err.legend()
        fig.tight_layout()
        path = self.run_dir / "curves.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def history_row(**values: Any) -> Dict[str, Any]:
    """A ``metrics.csv`` row with every field present (missing → None)."""
    return {k: values.get(k) for k in HISTORY_FIELDS}
