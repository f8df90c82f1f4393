"""What the numbers were measured on: the CPU model and its vector instruction set.

Part of a re-implementation of HoT (Li et al., CVPR 2024, arXiv:2311.12028); the benchmark tools record these beside
every timing.
"""
from __future__ import annotations

import platform
from typing import List

__all__ = ["cpu_name", "cpu_isa", "cpu_flags"]


def cpu_name() -> str:
    """The CPU model name (Linux /proc/cpuinfo), else what platform reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_isa() -> str:
    """The CPU's widest vector instruction set: "AVX-512", "AVX2", else the machine name."""
    flags = set(cpu_flags())
    return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else (platform.machine() or "unknown")


def cpu_flags() -> List[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return sorted(f for f in line.split(":", 1)[1].split() if f.startswith(("avx512_bf16", "amx",
                                                                                              "avx512f", "avx2")))
    except OSError:
        pass
    return []
