"""`accelerate launch` with 2 CPU processes (gloo) gives the same training as one process."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ARGS = ["--config", "configs/mosi.yaml", "--no-progress",
        "--set", "model.d=32", "--set", "model.n_heads=2", "--set", "model.k=1", "--set", "model.dropout=0.0",
        "--set", "train.epochs=2", "--set", "train.limit_train=192", "--set", "train.batch_size=32",
        "--set", "loss.members_per_step=1", "--set", "model.lstm_layers=1"]


def read_log(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text().splitlines()]


@pytest.mark.slow   # trains on the real MOSI in 3 processes
def test_two_process_ddp_matches_single_process(tmp_path, data_root):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ARGS + ["--set", f"data.root={data_root}"]
    single = subprocess.run([sys.executable, "-m", "fdcmdie", "train", *common, "--out", str(tmp_path / "single")],
                            capture_output=True, text=True, timeout=600, env=env)
    assert single.returncode == 0, single.stderr[-3000:]
    launcher = Path(sys.executable).with_name("accelerate")
    ddp = subprocess.run([str(launcher), "launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "fdcmdie", "train", *common,
                          "--out", str(tmp_path / "ddp")], capture_output=True, text=True, timeout=600, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a, b = read_log(tmp_path / "single" / "log.jsonl"), read_log(tmp_path / "ddp" / "log.jsonl")
    assert a[0]["sizes"] == b[0]["sizes"]
    for ea, eb in zip([r for r in a if r["event"] == "epoch"], [r for r in b if r["event"] == "epoch"]):
        assert eb["valid"]["mae"] == pytest.approx(ea["valid"]["mae"], abs=2e-3)
        # the logged train loss is rank 0's half of the batch: same scale, not identical
        assert eb["train"]["mae"] == pytest.approx(ea["train"]["mae"], rel=0.2)
    assert b[-1]["test"]["mae"] == pytest.approx(a[-1]["test"]["mae"], abs=2e-3)
    assert (tmp_path / "ddp" / "checkpoint" / "model.safetensors").is_file()
