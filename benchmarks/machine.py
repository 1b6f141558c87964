"""What machine a benchmark ran on, for the reports in docs/benchmarks/, and the median timer they share."""
from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path


def median_s(fn, runs: int) -> float:
    """Seconds of ``fn()``: the median of ``runs`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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
