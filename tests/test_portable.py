"""The GPU carry folder: a vocabulary-pruned fp16 encoder that rebuilds into the same encoder, and the
pack → run → collect path of scripts/gpu_paper_recipe.py (run here on CPU, one tiny epoch)."""
import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from transformers import AutoModel

from fdcmdie.data.location import data_file
from fdcmdie.experiments import finished, read_log
from fdcmdie.portable import folder_bytes, pack_encoder, unpack_encoder, used_token_ids
from fdcmdie.text_encoder import load_encoder, resolve_encoder

ROOT = Path(__file__).resolve().parents[1]


def mosi_texts(data_root, n=None):
    texts = pd.read_csv(data_file(data_root / "mosi" / "labels.csv"))["text"].fillna(".").astype(str).tolist()
    return texts[:n] if n else texts


def test_pruned_encoder_rebuilds_the_same_encoder_on_the_packed_texts(tmp_path, data_root):
    texts = mosi_texts(data_root, 400)
    packed = pack_encoder("minilm", texts, tmp_path / "packed")
    assert folder_bytes(packed) < 0.35 * folder_bytes(resolve_encoder("minilm"))  # fp16 + ~1/10 of the vocabulary
    rebuilt = AutoModel.from_pretrained(str(unpack_encoder(packed, tmp_path / "encoder"))).eval()
    tok, original = load_encoder("minilm")
    enc = tok(texts[:96], truncation=True, max_length=64, padding=True, return_tensors="pt")
    with torch.no_grad():
        a, b = original(**enc).last_hidden_state, rebuilt(**enc).last_hidden_state
    mask = enc["attention_mask"].bool()
    assert (a[mask] - b[mask]).abs().max() < 0.05                     # float16 rounding of the weights only
    cos = torch.nn.functional.cosine_similarity(a[mask], b[mask], dim=-1)
    assert cos.min() > 0.999
    # the rows of the tokens the texts use equal the original's up to fp16; every other row is zero
    emb_a, emb_b = original.get_input_embeddings().weight, rebuilt.get_input_embeddings().weight
    kept = used_token_ids("minilm", texts, 64)
    assert torch.allclose(emb_a[kept], emb_b[kept], atol=1e-3)
    dropped = torch.ones(len(emb_b), dtype=torch.bool)
    dropped[kept] = False
    assert dropped.sum() > 20000 and emb_b[dropped].abs().sum() == 0


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_paper_recipe", ROOT / "scripts" / "gpu_paper_recipe.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow   # trains on the real MOSI through the GPU recipe's script
def test_gpu_recipe_pack_run_collect_on_cpu(tmp_path, data_root, capsys):
    script = load_script()
    bundle = tmp_path / "carry"
    # a stand-in for checkpoints/: pack parks it (it must not travel), collect puts it back
    shipped, aside = tmp_path / "checkpoints", tmp_path / "aside"
    (shipped / "some-pair").mkdir(parents=True)
    (shipped / "some-pair" / "model.safetensors").write_bytes(b"x" * 1000)
    where = ["--shipped", str(shipped), "--aside", str(aside)]
    assert script.main(["pack", "--bundle", str(bundle), "--data-root", str(data_root), *where]) == 0
    assert data_file(bundle / "data" / "mosi" / "labels.csv").is_file() and (bundle / "encoder" / "packed.safetensors").is_file()
    assert not shipped.exists() and (aside / "checkpoints" / "some-pair" / "model.safetensors").stat().st_size == 1000
    out = tmp_path / "out"
    rc = script.main(["run", "--bundle", str(bundle), "--out", str(out), "--seeds", "1", "--jobs", "1",
                      "--device", "cpu", "--set", "train.epochs=1", "--set", "train.limit_train=32",
                      "--set", "loss.contrastive=false"])
    assert rc == 0
    printed = capsys.readouterr().out
    runs = tmp_path / "runs"
    assert script.main(["collect", str(out / script.ARCHIVE), "--runs-dir", str(runs), *where]) == 0
    assert (shipped / "some-pair" / "model.safetensors").is_file() and not (aside / "checkpoints").exists()
    for name in ("mosi-paper-ta-s1", "mosi-paper-ta-nocl-s1"):
        log = read_log(runs / name / "log.jsonl")
        fin = finished(log)
        assert fin is not None and fin["best_epoch"] == 1
        cfg = log[0]["config"]
        assert cfg["model"]["text_finetune_layers"] == -1            # the whole encoder, from token ids
        assert cfg["train"]["batch_size"] == 32 and cfg["model"]["modalities"] == ["t", "a"]
        assert log[0]["sizes"]["test"] == 686                         # the standard test split, all of it
        # the collected log holds the numbers the device printed for this run, and its best epoch's
        t, [epoch] = fin["test"], [r for r in log if r.get("event") == "epoch"]
        [line] = [x for x in printed.splitlines() if x.startswith(f"done   {name} in ")]
        assert line.endswith(f"best epoch 1, test Acc-2 {t['acc2_has0']:.2f}/{t['acc2_non0']:.2f}, "
                             f"MAE {t['mae']:.3f}, Corr {t['corr']:.3f}")
        assert epoch["epoch"] == 1 and epoch["valid"] == fin["valid"]
    # collecting again keeps finished logs unless forced
    before = (runs / "mosi-paper-ta-s1" / "log.jsonl").read_text()
    script.main(["collect", str(out / script.ARCHIVE), "--runs-dir", str(runs), *where])
    assert (runs / "mosi-paper-ta-s1" / "log.jsonl").read_text() == before
    assert json.loads(before.splitlines()[-1])["event"] == "test"


def test_set_aside_refuses_to_overwrite(tmp_path):
    script = load_script()
    shipped, aside = tmp_path / "checkpoints", tmp_path / "aside"
    (shipped / "a").mkdir(parents=True)
    script.set_aside(shipped, aside)
    (shipped / "b").mkdir(parents=True)               # a new checkpoint written while the first set was parked
    with pytest.raises(SystemExit, match="both"):
        script.set_aside(shipped, aside)
    with pytest.raises(SystemExit, match="both"):
        script.main(["restore", "--shipped", str(shipped), "--aside", str(aside)])
    assert (aside / "checkpoints" / "a").is_dir() and (shipped / "b").is_dir()   # nothing moved, nothing lost
    (shipped / "b").rmdir(), shipped.rmdir()
    assert script.main(["restore", "--shipped", str(shipped), "--aside", str(aside)]) == 0
    assert (shipped / "a").is_dir() and not (aside / "checkpoints").exists()
