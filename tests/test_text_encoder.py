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
