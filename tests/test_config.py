import pytest

from fdcmdie.config import Config, load_config


def test_yaml_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  modalities: [a, t]\n  k: 2\ntrain:\n  lr: 0.001\n")
    cfg = load_config(p, ["loss.contrastive=false", "train.epochs=3", "model.d=64", "train.lr=1"])
    assert cfg.model.modalities == ["t", "a"]          # canonical order
    assert cfg.model.k == 2 and cfg.model.d == 64
    assert cfg.loss.contrastive is False and cfg.train.epochs == 3
    assert isinstance(cfg.train.lr, float) and cfg.train.lr == 1.0


@pytest.mark.parametrize("override, message", [
    ("model.pooling=max", "pooling"),
    ("model.nope=1", "unknown key"),
    ("nosection=1", "section.key=value"),
    ("model.modalities=[x]", "subset"),
    ("model.d=30", "divisible"),
    ("loss.label_classes=5", "label_classes"),
])
def test_bad_values_are_refused(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, [override])


def test_roundtrip_dict():
    cfg = load_config(None, ["model.k=4"])
    again = Config.from_dict(cfg.to_dict())
    assert again == cfg


def test_shipped_configs_load():
    from pathlib import Path
    for p in sorted(Path(__file__).resolve().parent.parent.joinpath("configs").glob("*.yaml")):
        load_config(p)
