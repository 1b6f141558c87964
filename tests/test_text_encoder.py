"""Text encoder: offline MiniLM, cached states, top-layer fine-tuning equivalence, MPNet's split wheels."""
import io
import zipfile

import numpy as np
import pytest
import torch

from fdcmdie import text_encoder as te


def test_minilm_loads_offline_and_caches(tmp_path):
    texts = ["it was a great movie", "i hated every minute", ""]
    first = te.encode_texts("minilm", texts, max_len=32, cache_dir=tmp_path)
    assert [x.shape[1] for x in first] == [384] * 3 and first[0].dtype == np.float16
    assert len(list(tmp_path.glob("text-*.npz"))) == 1
    again = te.encode_texts("minilm", texts, max_len=32, cache_dir=tmp_path)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    # different texts, different cache entry and different states
    other = te.encode_texts("minilm", ["something else entirely"], max_len=32, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("text-*.npz"))) == 2 and other[0].shape == (5, 384)  # [CLS] something else entirely [SEP]


def test_top_layers_on_cached_states_equal_the_full_encoder():
    tok, model = te.load_encoder("minilm")
    enc = tok(["the plot was thin but the acting was superb", "no"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hs = model(**enc, output_hidden_states=True).hidden_states
        top = te.TopLayers(list(te.encoder_layers(model)[4:]))
        out = top(hs[4], enc["attention_mask"].bool())
    mask = enc["attention_mask"].bool()
    torch.testing.assert_close(out[mask], hs[6][mask], atol=1e-4, rtol=1e-4)


def test_mpnet_split_wheels_are_joined(tmp_path, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
        z.writestr("all-mpnet-base-v2/weights.bin", bytes(range(256)) * 40)
    data = buf.getvalue()
    site = tmp_path / "site"
    chunk = len(data) // 5 + 1
    for i in range(1, 6):
        d = site / te.MPNET_PARTS.format(i) / "input"
        d.mkdir(parents=True)
        (d / f"all-mpnet-base-v2.zip.00{i}").write_bytes(data[(i - 1) * chunk: i * chunk])
    import site as site_mod
    monkeypatch.setattr(site_mod, "getsitepackages", lambda: [str(site)])
    monkeypatch.setattr(site_mod, "getusersitepackages", lambda: str(tmp_path / "none"))
    folder = te.assemble_mpnet(tmp_path / "cache")
    assert (te.Path(folder) / "config.json").read_text() == '{"model_type": "mpnet"}'
    assert (te.Path(folder) / "weights.bin").read_bytes() == bytes(range(256)) * 40


def test_mpnet_missing_parts_message(tmp_path, monkeypatch):
    import site as site_mod
    monkeypatch.setattr(site_mod, "getsitepackages", lambda: [str(tmp_path)])
    monkeypatch.setattr(site_mod, "getusersitepackages", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="part-001"):
        te.assemble_mpnet(tmp_path / "cache")


def test_hub_name_offline_is_refused():
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        te.load_encoder("chandar-lab/NeoBERT")


# -- LoRA (model.text_lora_rank > 0): adapters over every block, the checkpoint holds them and the model only

def lora_config(rank: int = 4):
    from fdcmdie.config import load_config
    return load_config("configs/mosi-ft.yaml", ["model.modalities=[t]", "model.text_finetune_layers=-1",
                                                 f"model.text_lora_rank={rank}", "model.text_lora_alpha=8",
                                                 "loss.contrastive=false", "model.d=32"])


def trained_lora_model(cfg):
    """A LoRA model whose adapters are not zero (peft starts B at 0, which would make merging trivially exact)."""
    from fdcmdie.model import build_model
    torch.manual_seed(0)
    model = build_model(cfg.model)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    return model.eval()


def typed_batch(texts):
    tok, _ = te.load_encoder("minilm")
    enc = tok(texts, padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"].bool()


def test_lora_trains_the_adapters_only():
    cfg = lora_config(rank=4)
    model = trained_lora_model(cfg)
    enc = model.extract["t"].encoder
    trainable = {n: p.numel() for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable and all(te.LoraEncoder.adapter_key(n) for n in trainable)
    # closed form: each of the 6 blocks' Linear layers gets r·(in + out): q, k, v, attention output (384 -> 384),
    # the FFN in (384 -> 1536) and out (1536 -> 384); MiniLM's pooler gets none
    h, ff, r = 384, 1536, 4
    assert sum(trainable.values()) == 6 * r * (4 * (h + h) + (h + ff) + (ff + h))
    assert not any("pooler" in n for n in trainable)


def test_lora_needs_the_whole_encoder_mode():
    from fdcmdie.config import load_config
    with pytest.raises(ValueError, match="text_finetune_layers=-1"):
        load_config("configs/mosi-ft.yaml", ["model.text_lora_rank=8"])          # top-2 mode with adapters: refused


def test_lora_merged_equals_unmerged():
    model = trained_lora_model(lora_config())
    ids, mask = typed_batch(["the plot was thin but the acting was superb", "no"])
    enc = model.extract["t"].encoder
    with torch.no_grad():
        before = enc(ids, mask)
        enc.merge()
        after = enc(ids, mask)
    assert enc.merged and not any(".lora_" in n for n, _ in enc.named_parameters())
    torch.testing.assert_close(after[mask], before[mask], atol=1e-4, rtol=1e-4)
    assert (before - enc.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state).abs().max() < 1e-4


def test_lora_checkpoint_round_trip_keeps_predictions(tmp_path):
    import json
    from safetensors import safe_open
    from fdcmdie.checkpoint import load_checkpoint, save_checkpoint
    from fdcmdie.data import Normalizer
    from fdcmdie.inference import Predictor

    cfg = lora_config()
    model = trained_lora_model(cfg)
    texts = ["what a wonderful, warm film", "dull and far too long", "it was fine i guess"]
    unmerged = Predictor(model, cfg, Normalizer({}), {}, name="unmerged").predict(texts)
    path = save_checkpoint(tmp_path / "lora", model, cfg, Normalizer({}))
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        enc_keys = [k for k in f.keys() if k.startswith("extract.t.encoder.")]
    assert enc_keys and all(".lora_" in k for k in enc_keys)                # adapters only, no pretrained weights
    assert (path / "model.safetensors").stat().st_size < 5_000_000          # MiniLM alone is 90 MB in fp32
    assert json.loads((path / "config.json").read_text())["config"]["model"]["text_lora_rank"] == 4
    loaded, *_ = load_checkpoint(path)
    assert loaded.extract["t"].encoder.merged                               # loading folds the adapters in
    merged = Predictor.load(path).predict(texts)
    again = Predictor.load(path).predict(texts)
    assert [e.pred for e in merged] == [e.pred for e in again]                # the same checkpoint, the same predictions
    for a, b in zip(unmerged, merged):                                       # fp16 storage of the weights
        assert b.pred == pytest.approx(a.pred, abs=2e-2)


def test_lora_text_init_copies_the_adapters_and_refuses_another_rank(tmp_path):
    """Stage 2 from a LoRA checkpoint (train.text_init): the adapters arrive equal, the frozen weights stay e5's own;
    a checkpoint of another rank is refused with the reason."""
    from fdcmdie.checkpoint import save_checkpoint
    from fdcmdie.data import Normalizer
    from fdcmdie.model import build_model
    from fdcmdie.train import load_text_init

    cfg = lora_config(rank=4)
    source = trained_lora_model(cfg)
    path = save_checkpoint(tmp_path / "stage1", source, cfg, Normalizer({}))
    torch.manual_seed(1)
    fresh = build_model(cfg.model)
    enc = fresh.extract["t"].encoder
    frozen = {k: v.clone() for k, v in enc.state_dict().items() if not te.LoraEncoder.adapter_key(k)}
    n = load_text_init(fresh, path)
    want = {k: v for k, v in source.extract["t"].encoder.state_dict().items() if te.LoraEncoder.adapter_key(k)}
    assert n == len(want) > 0
    for k, v in enc.state_dict().items():
        if k in want:                                          # the checkpoint stores fp16: equal to that precision
            torch.testing.assert_close(v, want[k].half().float(), atol=0, rtol=0)
        else:
            assert torch.equal(v, frozen[k])
    other = build_model(lora_config(rank=8).model)
    with pytest.raises(ValueError, match="no LoRA adapters of this rank"):
        load_text_init(other, path)
