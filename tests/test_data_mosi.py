import numpy as np
import pytest

from fdcmdie.data import DataError
from fdcmdie.data.location import data_file
from fdcmdie.data.mosei import load_mosei
from fdcmdie.data.mosi import load_mosi


def test_standard_split_sizes_and_audio(data_root):
    ds = load_mosi(data_root, split="standard", modalities=("t", "a"))
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (1284, 229, 686)
    assert ds.train.audio[0].shape == (1, 73) and ds.train.vision is None
    assert ds.test.labels.min() >= -3 and ds.test.labels.max() <= 3
    # features are matched by id, not by row order
    z = np.load(data_root / "mosi" / "utterance_features.npz")
    row = list(z["id"]).index(ds.test.ids[5])
    np.testing.assert_array_equal(ds.test.audio[5][0], z["audio"][row])


@pytest.mark.parametrize("mods, source", [(("t", "v", "a"), "transcript"), (("t", "a"), "cnn")])
def test_leaky_features_refused_on_standard_split(data_root, mods, source):
    with pytest.raises(DataError, match="leak"):
        load_mosi(data_root, split="standard", modalities=mods, text_source=source)


def test_poria_split_carves_validation_by_video(data_root):
    ds = load_mosi(data_root, split="poria", modalities=("t", "v", "a"), text_source="cnn")
    assert len(ds.train) + len(ds.valid) == 1447 and len(ds.test) == 752
    assert not set(ds.train.video_ids) & set(ds.valid.video_ids)
    assert not set(ds.train.video_ids) & set(ds.test.video_ids)
    assert ds.train.vision[0].shape == (1, 100) and ds.train.text_feats[0].shape == (1, 100)
    again = load_mosi(data_root, split="poria", modalities=("t", "v", "a"))
    assert again.valid.ids == ds.valid.ids  # the carve is fixed, not seed-dependent


def test_poria_honest_selects_and_tests_on_the_test_half(data_root):
    import pandas as pd
    labels = pd.read_csv(data_file(data_root / "mosi" / "labels.csv"), dtype=str)
    half = dict(zip(labels["id"], labels["poria_split"]))
    ds = load_mosi(data_root, split="poria-honest", modalities=("t", "v", "a"), valid_fraction=0.3)
    assert {half[i] for i in ds.train.ids} == {"train"} and len(ds.train) == 1447
    assert {half[i] for i in ds.valid.ids + ds.test.ids} == {"test"} and len(ds.valid) + len(ds.test) == 752
    assert (len(set(ds.valid.video_ids)), len(set(ds.test.video_ids))) == (9, 22)       # 30% of 31 videos
    assert not set(ds.valid.video_ids) & set(ds.test.video_ids)


def test_poria_test_cv_folds_partition_the_test_half_by_video(data_root):
    import pandas as pd
    labels = pd.read_csv(data_file(data_root / "mosi" / "labels.csv"), dtype=str)
    test_half = set(labels.loc[labels["poria_split"] == "test", "id"])
    folds = [load_mosi(data_root, split="poria-test-cv", modalities=("t", "v", "a"), fold=f, folds=5) for f in range(5)]
    for f, ds in enumerate(folds):
        parts = [set(ds.train.video_ids), set(ds.valid.video_ids), set(ds.test.video_ids)]
        assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert set(ds.train.ids) | set(ds.valid.ids) | set(ds.test.ids) == test_half        # train half left out
        assert ds.valid.ids == folds[(f + 1) % 5].test.ids                                   # next fold validates
    assert sorted(i for ds in folds for i in ds.test.ids) == sorted(test_half)             # every segment tested once
    with pytest.raises(DataError, match="fold must be in 0..4"):
        load_mosi(data_root, split="poria-test-cv", fold=5, folds=5)


def test_mosei_sizes(data_root):
    ds = load_mosei(data_root)
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (16274, 1861, 4653)


def test_malformed_files_name_the_file(tmp_path, data_root):
    (tmp_path / "mosi").mkdir()
    with pytest.raises(DataError, match="labels.csv: file not found"):
        load_mosi(tmp_path)
    (tmp_path / "mosi" / "labels.csv").write_text("id,text\nx,hello\n")
    with pytest.raises(DataError, match=r"labels.csv: missing column"):
        load_mosi(tmp_path)
    import shutil
    (tmp_path / "mosi" / "labels.csv").unlink()
    src = data_file(data_root / "mosi" / "labels.csv")
    shutil.copy(src, tmp_path / "mosi" / src.name)   # labels.csv or labels.csv.gz: both are read
    (tmp_path / "mosi" / "utterance_features.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="utterance_features.npz: not a readable"):
        load_mosi(tmp_path)


def test_mosei_words_join_mosi_training_only(data_root):
    """data.extra_train=mosei: MOSEI's training transcripts join MOSI's training split; MOSI's validation and test
    are the same samples as without, and no MOSEI segment of any split enters them."""
    from fdcmdie.config import load_config
    from fdcmdie.data import load_dataset
    from fdcmdie.data.mosei import load_mosei

    base = load_dataset(load_config("configs/mosi.yaml", [f"data.root={data_root}"]))
    mixed = load_dataset(load_config("configs/mosi.yaml", [f"data.root={data_root}", "data.extra_train=mosei"]))
    mosei = load_mosei(data_root)
    assert len(mixed.train) == len(base.train) + len(mosei.train) == 1284 + 16274
    for name in ("valid", "test"):
        assert mixed.split(name).ids == base.split(name).ids
        np.testing.assert_array_equal(mixed.split(name).labels, base.split(name).labels)
    mosei_texts = set(mosei.train.texts) | set(mosei.valid.texts) | set(mosei.test.texts)
    assert not any(i.startswith("mosei:") for i in mixed.valid.ids + mixed.test.ids)
    assert not (set(mixed.valid.texts) | set(mixed.test.texts)) & (mosei_texts - set(base.train.texts)
                                                                    - set(base.valid.texts) - set(base.test.texts))
    np.testing.assert_array_equal(mixed.train.labels[len(base.train):], mosei.train.labels)
    extra_audio = mixed.train.audio[len(base.train):]
    assert all(a.shape == (0, 73) for a in extra_audio)                     # the voice is absent, not zeros
    # MOSEI's valid/test choose nothing: they are not read into the mixed dataset at all
    assert not set(f"mosei:{i}" for i in mosei.valid.ids + mosei.test.ids) & set(mixed.train.ids)


def test_extra_train_is_refused_where_it_cannot_apply():
    from fdcmdie.config import load_config
    with pytest.raises(ValueError, match="extra_train"):
        load_config("configs/mosei.yaml", ["data.extra_train=mosei"])          # MOSEI onto itself
    with pytest.raises(ValueError, match="extra_train"):
        load_config("configs/mosi.yaml", ["data.extra_train=iemocap"])
