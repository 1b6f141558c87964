"""Training on the real MOSI data (standard split, text + audio, frozen MiniLM): learning, logs, checkpoints, CLI."""
import json
import subprocess
import sys

import numpy as np
import pytest

from fdcmdie.checkpoint import load_checkpoint, save_checkpoint
from fdcmdie.config import load_config
from fdcmdie.train import Run

SMALL = ["model.modalities=[t,a]", "model.text_finetune_layers=0", "model.d=32", "model.n_heads=2", "model.k=1",
         "loss.members_per_step=1", "train.batch_size=64", "train.lr=0.001"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("run")
    cfg = load_config("configs/mosi.yaml", SMALL + ["train.epochs=4", f"data.root={data_root}"])
    run = Run(cfg, progress=False, log_path=out / "log.jsonl")
    result = run.fit()
    save_checkpoint(out / "checkpoint", run.model, cfg, run.normalizer, meta={"test": result["test"]})
    return run, result, out


@pytest.mark.slow   # trains 4 epochs on the real MOSI (module fixture)
def test_validation_mae_beats_constant_mean(trained):
    run, result, _ = trained
    train_mean = run.dataset.train.labels.mean()
    constant = np.abs(run.dataset.valid.labels - train_mean).mean()
    assert result["valid"]["mae"] < constant - 0.05, (result["valid"]["mae"], constant)
    assert result["test"]["acc2_non0"] > 60


@pytest.mark.slow   # trains 4 epochs on the real MOSI (module fixture)
def test_log_has_config_epochs_and_test(trained):
    _, result, out = trained
    records = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    assert records[0]["event"] == "config" and records[0]["sizes"] == {"train": 1284, "valid": 229, "test": 686}
    epochs = [r for r in records if r["event"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3, 4]
    assert all(r["train"]["cl"] > 0 for r in epochs)  # contrastive loss is on
    assert records[-1]["event"] == "test" and records[-1]["test"] == result["test"]
    best = min(epochs, key=lambda r: r["valid"]["mae"])
    assert records[-1]["best_epoch"] == best["epoch"]


@pytest.mark.slow   # trains 4 epochs on the real MOSI (module fixture)
def test_checkpoint_roundtrip_and_refusals(trained, tmp_path):
    run, result, out = trained
    model, cfg, norm, meta = load_checkpoint(out / "checkpoint")
    assert cfg == run.cfg and norm.stats.keys() == {"a"}
    from fdcmdie.evaluate import predict
    again = predict(model, run.sets["test"], cfg).metrics()
    assert again["mae"] == pytest.approx(result["test"]["mae"], abs=5e-3)  # fp16 weights
    assert (out / "checkpoint" / "model.safetensors").read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
    # a config that does not fit the weights is refused with the reason
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes((out / "checkpoint" / "model.safetensors").read_bytes())
    info = json.loads((out / "checkpoint" / "config.json").read_text())
    info["config"]["model"]["d"] = 64
    (bad / "config.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="shape|do not fit"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_checkpoint(tmp_path)


@pytest.mark.slow   # trains 4 epochs on the real MOSI (module fixture)
def test_evaluate_cli_prints_all_metrics(trained, data_root):
    _, result, out = trained
    p = subprocess.run([sys.executable, "-m", "fdcmdie", "evaluate", "--checkpoint", str(out / "checkpoint"),
                        "--data-root", str(data_root), "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout.strip().splitlines()[-1])
    assert m["n"] == 686
    assert set(m) >= {"acc2_has0", "acc2_non0", "f1_has0", "f1_non0", "acc7", "mae", "corr"}
    assert m["mae"] == pytest.approx(result["test"]["mae"], abs=5e-3)


@pytest.mark.slow   # trains twice on the real MOSI
def test_same_seed_same_run(data_root):
    overrides = SMALL + ["train.epochs=1", f"data.root={data_root}", "model.lstm_layers=1"]
    losses = []
    for _ in range(2):
        run = Run(load_config("configs/mosi.yaml", overrides), progress=False)
        run.sets["train"].split = run.sets["train"].split.subset(range(256))
        run.sets["train"].columns = {k: v[:256] for k, v in run.sets["train"].columns.items()}
        losses.append(run.train_epoch(1))
    assert losses[0] == losses[1]


def test_cli_help_and_user_errors():
    for cmd in (["train", "--help"], ["evaluate", "--help"], ["extract", "--help"]):
        p = subprocess.run([sys.executable, "-m", "fdcmdie", *cmd], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and "usage" in p.stdout
    p = subprocess.run([sys.executable, "-m", "fdcmdie", "train", "--config", "configs/mosi.yaml",
                        "--set", "model.modalities=[t,v,a]"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "leak" in p.stderr and "Traceback" not in p.stderr


def test_modality_dropout_drops_only_the_chosen_modalities():
    """loss.dropout_modalities=[v] drops the face and never the voice or the words (the honest T+V+A recipe)."""
    import torch

    from fdcmdie.config import load_config
    from fdcmdie.train import Run

    class Recorder:
        def __init__(self):
            self.dropped = []

        def __len__(self):
            return 8

        def drop(self, m, mask):
            self.dropped.append(m)
            return self

    run = object.__new__(Run)
    run.device = torch.device("cpu")
    run.cfg = load_config(None, ["model.modalities=[t,v,a]", "loss.modality_dropout=0.5", "loss.dropout_modalities=[v]"])
    assert run.modality_dropout(Recorder()).dropped == ["v"]
    run.cfg = load_config(None, ["model.modalities=[t,v,a]", "loss.modality_dropout=0.5"])
    assert run.modality_dropout(Recorder()).dropped == ["v", "a"]


def test_a_stopped_run_goes_on_to_the_same_result(data_root, tmp_path):
    """resume.pt: a run stopped after epoch 1 and started again ends exactly where an unstopped run ends (same
    weights, same log of epochs, same test), and the state is removed when the run finishes; another config is refused."""
    import torch
    from fdcmdie.train import RESUME
    overrides = SMALL + ["train.epochs=3", f"data.root={data_root}", "model.lstm_layers=1", "train.limit_train=192",
                         "loss.modality_dropout=0.3", "loss.dropout_modalities=[a]"]
    cfg = lambda *extra: load_config("configs/mosi.yaml", overrides + list(extra))

    straight = Run(cfg(), progress=False, log_path=tmp_path / "a" / "log.jsonl", resume_path=tmp_path / "a" / RESUME)
    want = straight.fit()
    assert not (tmp_path / "a" / RESUME).exists()

    class Stop(Exception):
        pass

    first = Run(cfg(), progress=False, log_path=tmp_path / "b" / "log.jsonl", resume_path=tmp_path / "b" / RESUME)
    real = first.train_epoch
    first.train_epoch = lambda epoch: real(epoch) if epoch < 2 else (_ for _ in ()).throw(Stop())   # killed in epoch 2
    with pytest.raises(Stop):
        first.fit()
    assert torch.load(tmp_path / "b" / RESUME, weights_only=False)["epoch"] == 1
    with pytest.raises(ValueError, match="another config"):
        Run(cfg("train.lr=0.002"), progress=False, resume_path=tmp_path / "b" / RESUME)
    again = Run(cfg(), progress=False, log_path=tmp_path / "b" / "log.jsonl", resume_path=tmp_path / "b" / RESUME)
    got = again.fit()
    assert got["test"] == want["test"] and got["valid"] == want["valid"] and got["best_epoch"] == want["best_epoch"]
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k
    epochs = lambda d: [{k: r[k] for k in ("epoch", "train", "valid")}
                        for r in map(json.loads, (tmp_path / d / "log.jsonl").read_text().splitlines())
                        if r["event"] == "epoch"]
    assert epochs("b") == epochs("a") and len(epochs("a")) == 3
    assert not (tmp_path / "b" / RESUME).exists()
