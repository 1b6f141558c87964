#!/bin/bash
# The measurements behind docs/benchmarks/memory.md, most important first (a contended 2-core CPU: the grid cells
# that did not fit the session's time are estimated only, --steps 0). Rows are appended to runs/memory-bench.jsonl.
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
B=".venv/bin/python benchmarks/memory.py --jsonl runs/memory-bench.jsonl --budget-gb 8"
$B --only mosi-unaligned --switches efficient --batches 8 32 --steps 1
$B --only mosi-unaligned --switches "efficient, glibc default" --batches 8 --steps 1
$B --only mosi-unaligned --switches plain --batches 8 16 32 --steps 1
$B --only mosi-aligned --switches plain efficient efficient+ckpt --batches 8 16 32 --steps 1
$B --only mosi-unaligned --switches efficient+stride4 --batches 8 16 32 --steps 1
$B --only mosi-unaligned --switches efficient+ckpt --batches 8 --steps 1
$B --only mosei-aligned --switches plain efficient efficient+ckpt --batches 32 --steps 1
$B --only mosei-unaligned --switches plain --batches 32 --steps 1
$B --only mosei-unaligned --switches efficient --batches 8 --steps 1
$B --only mosi-unaligned --switches efficient --batches 16 --steps 0
$B --only mosi-unaligned --switches efficient+ckpt --batches 16 32 --steps 0
$B --only mosei-aligned --switches plain efficient efficient+ckpt --batches 8 16 --steps 0
$B --only mosei-unaligned --switches plain --batches 8 16 --steps 0
$B --only mosei-unaligned --switches efficient --batches 16 32 --steps 0
$B --only mosei-unaligned --switches efficient+ckpt efficient+stride4 --batches 8 16 32 --steps 0
$B --only mosi-unaligned --switches efficient+ckpt --batches 32 --steps 1
