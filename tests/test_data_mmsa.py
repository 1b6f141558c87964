"""Tests of the MMSA pickle reader (fdcmdie.data.mmsa) on fixtures in MMSA's exact layout."""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest

from fdcmdie.checkpoint import MOSEI_CHECKPOINT
from fdcmdie.data import mmsa
from fdcmdie.data.base import DataError, Dataset
from fdcmdie.data.mmsa import load_mmsa, sha256_status
from mmsa_fixture import DIMS, SEQ_LEN, make_mmsa_pickle

CASES = [("mosi", False), ("mosi", True), ("mosei", False), ("mosei", True)]
N = (12, 4, 6)


def _file_name(aligned: bool) -> str:
    return "aligned_50.pkl" if aligned else "unaligned_50.pkl"


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict[tuple[str, bool], Path]:
    """The four fixture files, built once: {(dataset, aligned): path}."""
    root = tmp_path_factory.mktemp("mmsa")
    return {(ds, al): make_mmsa_pickle(root / ds.upper() / _file_name(al), dataset=ds, aligned=al, n=N)
            for ds, al in CASES}


@pytest.fixture(scope="module")
def loaded(fixtures) -> dict[tuple[str, bool], Dataset]:
    return {case: load_mmsa(path) for case, path in fixtures.items()}


def _raw(path: Path) -> dict:
    with path.open("rb") as f:
        return pickle.load(f)


def _rewrite(src: Path, dst: Path, edit) -> Path:
    """Copy of the pickle at ``src`` with ``edit(data)`` applied, written to ``dst``."""
    data = _raw(src)
    edit(data)
    with dst.open("wb") as f:
        pickle.dump(data, f)
    return dst


def _expected_lengths(raw_split: dict, key: str, aligned: bool) -> np.ndarray:
    """Real lengths as the fixture built them: token counts when aligned, stored lengths otherwise."""
    if aligned:
        return raw_split["text_bert"][:, 1, :].sum(axis=1).astype(int)
    return raw_split[f"{key}_lengths"]


# ------------------------------------------------------------------------------------ well-formed

@pytest.mark.parametrize("dataset,aligned", CASES)
def test_structure_and_dims(loaded, dataset, aligned):
    ds = loaded[(dataset, aligned)]
    assert ds.name == f"mmsa:{_file_name(aligned)}"
    assert ds.dims == {"a": DIMS[dataset]["audio"], "v": DIMS[dataset]["vision"]}
    for name, size in zip(("train", "valid", "test"), N):
        split = ds.split(name)
        assert len(split) == size
        assert len(split.texts) == len(split.audio) == len(split.vision) == len(split.video_ids) == size
        assert split.text_feats is None          # MMSA's BERT features are not used
        assert split.labels.dtype == np.float32 and split.labels.shape == (size,)


@pytest.mark.parametrize("dataset,aligned", CASES)
def test_sequences_cut_to_real_length_and_cleaned(fixtures, loaded, dataset, aligned):
    raw, ds = _raw(fixtures[(dataset, aligned)]), loaded[(dataset, aligned)]
    for name in ("train", "valid", "test"):
        split = ds.split(name)
        for key in ("audio", "vision"):
            padded = raw[name][key]
            assert padded.shape[1:] == (SEQ_LEN[dataset][aligned][key], DIMS[dataset][key])
            lengths = _expected_lengths(raw[name], key, aligned)
            for seq, row, length in zip(getattr(split, key), padded, lengths):
                assert seq.dtype == np.float32 and seq.shape == (length, padded.shape[2])
                assert np.isfinite(seq).all()
                want = np.where(np.isfinite(row[:length]), row[:length], 0)
                np.testing.assert_array_equal(seq, want)


@pytest.mark.parametrize("dataset,aligned", CASES)
def test_neg_inf_replaced_and_noted(fixtures, loaded, dataset, aligned):
    raw, ds = _raw(fixtures[(dataset, aligned)]), loaded[(dataset, aligned)]
    n_inf = int(np.isneginf(raw["train"]["audio"]).sum())
    assert n_inf > 0
    assert f"train: replaced {n_inf} non-finite audio values by 0" in ds.notes


@pytest.mark.parametrize("dataset,aligned", CASES)
def test_ids_texts_labels(fixtures, loaded, dataset, aligned):
    raw, ds = _raw(fixtures[(dataset, aligned)]), loaded[(dataset, aligned)]
    for name in ("train", "valid", "test"):
        split = ds.split(name)
        for mmsa_id, our_id, video in zip(raw[name]["id"], split.ids, split.video_ids):
            v, clip = str(mmsa_id).split("$_$")
            assert our_id == f"{v}_{clip}" and video == v and "$" not in our_id
        assert split.texts == [str(t) for t in raw[name]["raw_text"]]
        np.testing.assert_array_equal(split.labels, raw[name]["regression_labels"])
    assert ds.train.labels[0] == 0.0
    assert "_" in ds.train.video_ids[0]          # video ids with "_" survive the conversion


@pytest.mark.parametrize("dataset,aligned,shape", [
    ("mosi", False, {"text": 50, "audio": (375, 5), "vision": (500, 20)}),
    ("mosei", False, {"text": 50, "audio": (500, 74), "vision": (500, 35)}),
    ("mosi", True, {"text": 50, "audio": (50, 5), "vision": (50, 20)}),
    ("mosei", True, {"text": 50, "audio": (50, 74), "vision": (50, 35)}),
])
def test_fixture_has_mmsa_real_shapes(fixtures, dataset, aligned, shape):
    """MMSA's seq_lens (text, audio, vision): aligned 50/50/50, unaligned MOSI 50/375/500, MOSEI 50/500/500."""
    raw = _raw(fixtures[(dataset, aligned)])
    for name, size in zip(("train", "valid", "test"), N):
        assert raw[name]["text"].shape == (size, shape["text"], 768)
        assert raw[name]["text_bert"].shape == (size, 3, shape["text"])
        assert raw[name]["audio"].shape == (size, *shape["audio"])
        assert raw[name]["vision"].shape == (size, *shape["vision"])


@pytest.mark.parametrize("dataset,full", [("mosi", {"audio": 375, "vision": 500}), ("mosei", {"audio": 500, "vision": 500})])
def test_zero_length_vision_is_empty(loaded, dataset, full):
    train = loaded[(dataset, False)].train
    assert train.vision[1].shape == (0, DIMS[dataset]["vision"])
    assert train.audio[0].shape == (full["audio"], DIMS[dataset]["audio"])     # full padded length kept
    assert train.vision[0].shape == (full["vision"], DIMS[dataset]["vision"])


def test_frame_stride_and_cap(fixtures):
    """data.frame_stride averages windows of frames, data.max_frames keeps the first ones; off by default."""
    path = fixtures[("mosi", False)]
    full, short = load_mmsa(path), load_mmsa(path, frame_stride=4, max_frames=60)
    for a, b in zip(full.train.audio, short.train.audio):
        assert b.shape == (min(-(-len(a) // 4), 60), 5)
        if len(a) >= 8:
            np.testing.assert_allclose(b[1], a[4:8].mean(0), rtol=1e-6, atol=1e-6)
        if len(a) % 4 and len(a) <= 4 * 60:   # a last partial window is averaged over the frames it has
            np.testing.assert_allclose(b[-1], a[len(a) // 4 * 4:].mean(0), rtol=1e-6, atol=1e-6)
    assert short.train.vision[1].shape == (0, 20)                                # missing stays missing
    assert any("frames shortened" in note for note in short.notes)
    assert not any("frames shortened" in note for note in full.notes)
    with pytest.raises(ValueError, match="stride"):
        load_mmsa(path, frame_stride=0)


def test_aligned_informative_lengths_are_used(fixtures, tmp_path):
    """Aligned lengths that are not all 50 are taken as they are, not from the BERT mask."""
    def edit(data):
        for split in data.values():
            n = len(split["id"])
            split["audio_lengths"] = np.arange(n) + 3
            split["vision_lengths"] = np.zeros(n, dtype=np.int64)
    path = _rewrite(fixtures[("mosi", True)], tmp_path / "aligned_50.pkl", edit)
    ds = load_mmsa(path)
    assert [len(a) for a in ds.test.audio] == list(range(3, 3 + N[2]))
    assert all(v.shape == (0, 20) for v in ds.test.vision)


def test_aligned_without_lengths_or_mask_keeps_full_length(fixtures, tmp_path):
    def edit(data):
        for split in data.values():
            del split["text_bert"]
    path = _rewrite(fixtures[("mosei", True)], tmp_path / "aligned_50.pkl", edit)
    ds = load_mmsa(path)
    assert all(a.shape == (50, 74) for a in ds.valid.audio)
    assert any("kept all 50 steps" in note for note in ds.notes)


def test_nan_and_list_lengths_accepted(fixtures, tmp_path):
    def edit(data):
        data["train"]["vision"][0, 0, 0] = np.nan
        data["train"]["audio_lengths"] = [int(x) for x in data["train"]["audio_lengths"]]
    path = _rewrite(fixtures[("mosi", False)], tmp_path / "unaligned_50.pkl", edit)
    ds = load_mmsa(path)
    assert ds.train.vision[0][0, 0] == 0.0
    assert "train: replaced 1 non-finite vision values by 0" in ds.notes


def test_modalities_subset_skips_other_keys(fixtures, tmp_path):
    def edit(data):
        for split in data.values():
            del split["vision"], split["vision_lengths"]
    path = _rewrite(fixtures[("mosi", False)], tmp_path / "unaligned_50.pkl", edit)
    ds = load_mmsa(path, modalities=("t", "a"))
    assert ds.dims == {"a": 5} and ds.train.vision is None and len(ds.train.audio) == N[0]
    with pytest.raises(ValueError):
        load_mmsa(path, modalities=("t", "x"))


# ------------------------------------------------------------------------------------- malformed

def _drop_key(key, split="valid"):
    def edit(data):
        del data[split][key]
    return edit


def _n_mismatch(data):
    data["test"]["regression_labels"] = data["test"]["regression_labels"][:-1]


def _wrong_ndim(data):
    data["train"]["audio"] = data["train"]["audio"][:, :, 0]


def _not_a_dict(data):
    data.clear()
    data["oops"] = None


MALFORMED = {
    "missing key": (("mosi", False), _drop_key("vision_lengths"),
                    "split 'valid' lacks key 'vision_lengths'"),
    "missing key aligned": (("mosei", True), _drop_key("regression_labels", "train"),
                            "split 'train' lacks key 'regression_labels'"),
    "missing split": (("mosei", False), lambda d: d.pop("valid"), "missing split 'valid'"),
    "N mismatch": (("mosi", True), _n_mismatch,
                   f"split 'test' key 'regression_labels' has {N[2] - 1} rows but 'id' has {N[2]}"),
    "wrong ndim": (("mosi", False), _wrong_ndim, "split 'train' key 'audio' has 2 dimensions"),
    "no splits": (("mosi", False), _not_a_dict, "missing split 'train'"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_structure_raises(fixtures, tmp_path, case):
    source, edit, reason = MALFORMED[case]
    path = _rewrite(fixtures[source], tmp_path / _file_name(source[1]), edit)
    with pytest.raises(DataError) as err:
        load_mmsa(path)
    assert str(path) in str(err.value) and reason in str(err.value)


def test_truncated_pickle_raises(fixtures, tmp_path):
    path = tmp_path / "unaligned_50.pkl"
    path.write_bytes(fixtures[("mosi", False)].read_bytes()[:50_000])
    with pytest.raises(DataError, match="not a readable MMSA pickle") as err:
        load_mmsa(path)
    assert str(path) in str(err.value)


def test_text_file_raises(tmp_path):
    path = tmp_path / "aligned_50.pkl"
    path.write_text("id,label\nabc_1,0.5\n")
    with pytest.raises(DataError, match="not a readable MMSA pickle") as err:
        load_mmsa(path)
    assert str(path) in str(err.value)


def test_pickle_of_wrong_type_raises(tmp_path):
    path = tmp_path / "aligned_50.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match="expected a dict of splits, found list"):
        load_mmsa(path)


def test_missing_file_and_directory_raise(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_mmsa(tmp_path / "nope" / "unaligned_50.pkl")
    with pytest.raises(DataError, match="not a regular file"):
        load_mmsa(tmp_path)


def test_feature_width_must_agree_across_splits(fixtures, tmp_path):
    def edit(data):
        data["test"]["audio"] = data["test"]["audio"][:, :, :4]
    path = _rewrite(fixtures[("mosi", False)], tmp_path / "unaligned_50.pkl", edit)
    with pytest.raises(DataError, match="'audio' feature width differs between splits"):
        load_mmsa(path)


# ------------------------------------------------------------------------------------------ sha256

def test_sha256_status_unknown_for_fixture(fixtures, loaded):
    assert sha256_status(fixtures[("mosi", False)]) is None
    assert loaded[("mosi", False)].notes[0].startswith("sha256: not a published MMSA release")


def test_sha256_status_names_known_file(fixtures, monkeypatch):
    path = fixtures[("mosi", True)]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(mmsa.MMSA_SHA256, digest, "MOSI aligned_50.pkl")
    monkeypatch.setattr(mmsa, "_CHUNK", 4096)             # several chunks, still the same digest
    assert sha256_status(path) == "genuine MMSA MOSI aligned_50.pkl"
    assert load_mmsa(path).notes[0] == "sha256: genuine MMSA MOSI aligned_50.pkl"


def test_published_sums_table():
    assert len(mmsa.MMSA_SHA256) == 4
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in mmsa.MMSA_SHA256)


# ------------------------------------------------------------------- which data a checkpoint reads (app --data)

def _mmsa_checkpoint(folder: Path, pkl: Path) -> Path:
    """An untrained t+v+a checkpoint whose config says it was trained on ``pkl`` (MOSI widths 5 / 20)."""
    import torch

    from fdcmdie.checkpoint import save_checkpoint
    from fdcmdie.config import load_config
    from fdcmdie.data import Normalizer
    from fdcmdie.model import build_model
    cfg = load_config(None, ["data.source=mmsa", f"data.path={pkl}", "model.modalities=[t,v,a]", "model.audio_dim=5",
                             "model.vision_dim=20", "model.d=16", "model.n_heads=2", "model.k=1",
                             "model.lstm_layers=1", f"train.cache_dir={folder / 'cache'}"])
    torch.manual_seed(0)
    return save_checkpoint(folder / "mmsa-run" / "checkpoint", build_model(cfg.model), cfg, Normalizer({}),
                           meta={"dataset": f"mmsa:{pkl.name}"})


def test_data_override_applies_where_it_fits(fixtures, tmp_path, data_root):
    from fdcmdie.data.location import data_override, fits
    import shutil
    (tmp_path / "MOSI").mkdir()
    pkl = Path(shutil.copy(fixtures[("mosi", True)], tmp_path / "MOSI" / "aligned_50.pkl"))
    mosi, mmsa_ckpt = ("mosi", ""), ("mmsa", "/elsewhere/aligned_50.pkl")
    everyone = [mosi, ("mosei", ""), mmsa_ckpt]
    assert fits(pkl, *mmsa_ckpt) and fits(pkl.parent, *mmsa_ckpt)        # the pickle, or its folder
    assert not fits(pkl.parent, "mmsa", "/x/unaligned_50.pkl")            # that folder has no unaligned_50.pkl
    assert fits(data_root, *mosi) and not fits(pkl, *mosi) and not fits(data_root, *mmsa_ckpt)
    assert data_override(None, mosi, everyone) is None                    # no --data: each its own
    assert data_override(pkl, mmsa_ckpt, everyone) == str(pkl)
    assert data_override(pkl, mosi, everyone) is None                     # a pickle is not a MOSI folder
    assert data_override(data_root, mosi, everyone) == str(data_root)
    assert data_override(data_root, mmsa_ckpt, everyone) is None
    nowhere = tmp_path / "nowhere"                                        # fits nobody: everyone reads it
    assert data_override(nowhere, mosi, everyone) == data_override(nowhere, mmsa_ckpt, everyone) == str(nowhere)


def test_each_checkpoint_in_the_app_reads_the_data_it_was_trained_on(fixtures, tmp_path, data_root):
    import shutil

    from fdcmdie.app import AppContext, AppOptions
    pkl = shutil.copy(fixtures[("mosi", True)], tmp_path / "aligned_50.pkl")
    ckpt = _mmsa_checkpoint(tmp_path, Path(pkl))
    opts = dict(checkpoint=str(ckpt), compare_checkpoint=MOSEI_CHECKPOINT, browse_checkpoints=(), warm_up=False)
    ctx = AppContext(AppOptions(**opts))
    assert ctx.data_root("main") is None and ctx.data_root("compare") is None
    assert ctx.predictor("main").dataset(ctx.data_root("main")).test.ids == load_mmsa(pkl).test.ids
    mosei = ctx.predictor("compare").dataset(ctx.data_root("compare"))   # the shipped data, not the pickle's folder
    assert len(mosei.test) == 4653
    view = ctx.split_view("main", "test")                                  # the explorer's table of the pickle
    assert list(view.preds.ids) == load_mmsa(pkl).test.ids

    # --data: a copy of the pickle elsewhere (or its folder) replaces the MMSA checkpoint's only
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copy(pkl, moved / "aligned_50.pkl")
    for given in (moved / "aligned_50.pkl", moved):
        ctx = AppContext(AppOptions(**opts, data=str(given)))
        assert ctx.data_root("main") == str(given) and ctx.data_root("compare") is None
        assert len(ctx.predictor("main").dataset(ctx.data_root("main")).test) == N[2]
        assert len(ctx.predictor("compare").dataset(ctx.data_root("compare")).test) == 4653

    # the stored pickle gone: the explorer's message names that file, not mosi/labels.csv
    Path(pkl).unlink()
    ctx = AppContext(AppOptions(**opts))
    from fdcmdie.app import explorer
    _, _, status = explorer.filter_samples(ctx, "main", "test")
    assert f"{pkl}: file not found" in status and "mosi/labels.csv" not in status and "--data" in status


# ------------------------------------------------------------------------------ MMSA runs on the command line

def test_an_mmsa_run_is_named_after_its_data():
    from fdcmdie.config import load_config
    from fdcmdie.train import run_name
    mmsa_set = ["data.source=mmsa", "data.path=/d/MOSI/aligned_50.pkl"]
    assert run_name(load_config("configs/mosi.yaml", mmsa_set), "configs/mosi.yaml") == "mmsa-aligned_50-s1"
    assert run_name(load_config("configs/mosi-ft.yaml", mmsa_set + ["train.seed=3"]), "configs/mosi-ft.yaml") \
        == "mmsa-aligned_50-ft-s3"
    assert run_name(load_config("configs/mosi-poria.yaml"), "configs/mosi-poria.yaml") == "mosi-poria-s1"
    assert run_name(load_config("configs/mosei.yaml"), "configs/mosei.yaml") == "mosei-s1"
    assert run_name(load_config("configs/clips.yaml"), "configs/clips.yaml") == "clips-s1"   # not named after a dataset
    assert run_name(load_config("configs/mosi.yaml", mmsa_set + ["train.name=mine"]), "configs/mosi.yaml") == "mine"


@pytest.mark.slow   # trains and evaluates in 3 processes
def test_train_prints_the_data_notes_and_evaluate_warns_on_the_other_layout(fixtures, tmp_path):
    import json
    import subprocess
    import sys
    aligned, unaligned = fixtures[("mosi", True)], fixtures[("mosi", False)]
    sets = ["data.source=mmsa", f"data.path={aligned}", "model.modalities=[t,v,a]", "model.d=16", "model.n_heads=2",
            "model.k=1", "model.lstm_layers=1", "loss.k_cl=2", "loss.members_per_step=1", "train.epochs=1",
            "train.batch_size=4", "train.device=cpu", f"train.out_dir={tmp_path}", f"train.cache_dir={tmp_path / 'c'}"]
    cmd = [sys.executable, "-m", "fdcmdie", "train", "--config", "configs/mosi.yaml", "--no-progress"]
    out = subprocess.run(cmd + [x for s in sets for x in ("--set", s)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    for note in load_mmsa(aligned).notes:         # the sha256 verdict, the layout, how the lengths were found …
        assert f"data: {note}" in out.stdout
    assert "data: sha256: not a published MMSA release" in out.stdout
    ckpt = tmp_path / "mmsa-aligned_50-s1" / "checkpoint"
    assert (ckpt / "model.safetensors").is_file() and not (tmp_path / "mosi-s1").exists()

    evaluate = [sys.executable, "-m", "fdcmdie", "evaluate", "--checkpoint", str(ckpt), "--device", "cpu", "--json"]
    same = subprocess.run(evaluate, capture_output=True, text=True, timeout=300)
    assert same.returncode == 0 and "WARNING" not in same.stderr and "warning" not in json.loads(same.stdout)
    other = subprocess.run(evaluate + ["--data-path", str(unaligned)], capture_output=True, text=True, timeout=300)
    assert other.returncode == 0, other.stderr[-2000:]
    assert "WARNING: this checkpoint was trained on aligned MMSA data but mmsa:unaligned_50.pkl is unaligned " \
           "(text/audio/vision padded to 50/375/500 steps)" in other.stderr
    assert json.loads(other.stdout)["warning"].startswith("this checkpoint was trained on aligned")
