"""What machine a benchmark ran on, for the reports in docs/benchmarks/."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe() -> str:
    """e.g. '2-core CPU (AMD EPYC …), no GPU, Linux 6.1, Python 3.11.7'."""
    return (f"{os.cpu_count()}-core CPU ({cpu_name()}), no GPU, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")
