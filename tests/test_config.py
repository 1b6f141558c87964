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
    ("model.pos_encoding=sinusiodal", "pos_encoding must be 'sinusoidal' or 'none'"),
    ("data.split=poria-honst", "data.split must be one of"),
    ("data.fold=5", "data.fold in 0..folds-1"),
    ("data.valid_fraction=1.5", "valid_fraction"),
    ("loss.dropout_modalities=[t]", "text is never dropped"),
])
def test_bad_values_are_refused(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, [override])


def test_roundtrip_dict():
    cfg = load_config(None, ["model.k=4"])
    again = Config.from_dict(cfg.to_dict())
    assert again == cfg


def test_shipped_configs_load():
    """Every shipped YAML validates, each of its values lands unchanged in its field (modalities in t, v, a
    order) and the config survives the checkpoint's to_dict / from_dict round trip."""
    from pathlib import Path

    import yaml

    configs = sorted(Path(__file__).resolve().parent.parent.joinpath("configs").glob("*.yaml"))
    assert len(configs) >= 4
    for p in configs:
        if p.name == "experiments.yaml":
            continue
        cfg = load_config(p)
        for section, values in (yaml.safe_load(p.read_text()) or {}).items():
            for key, value in (values or {}).items():
                got = getattr(getattr(cfg, section), key)
                want = [m for m in ("t", "v", "a") if m in value] if key == "modalities" else value
                assert got == want, (p.name, section, key)
        assert Config.from_dict(cfg.to_dict()) == cfg, p.name


def test_experiment_plan_entries_are_valid_configs():
    """Every run of configs/experiments.yaml is a config plus --set switches that validate."""
    from fdcmdie.experiments import load_plan
    _, plan = load_plan("configs/experiments.yaml")
    names = [e.name for e in plan]
    assert len(names) == len(set(names))
    for exp in plan:
        cfg = load_config(exp.config, exp.set + ["train.seed=3"])
        assert cfg.train.seed == 3
        assert "--set" in exp.command(3, "runs") and exp.command(3, "runs")[-1] == f"runs/{exp.name}-s3"
    pairs = {e.name: e for e in plan if e.group in ("headline", "honest-tav", "e5")}
    for name in ("mosi-poria-tav", "mosi-std-ta", "mosi-std-ta-ft", "mosi-std-t-ft-d256", "mosi-honest-tav",
                 "mosi-honest-tav-ft", "mosi-std-ta-e5", "mosi-std-ta-e5-adrop", "mosi-honest-tav-e5"):
        # pairs differ only in CL
        with_cl, without = load_config(pairs[name].config, pairs[name].set), load_config(
            pairs[name + "-nocl"].config, pairs[name + "-nocl"].set)
        without.loss.contrastive = True
        assert with_cl == without


def test_train_command_stops_at_once_on_a_typo(tmp_path, capsys):
    """`python -m fdcmdie train --set model.pos_encoding=typo` fails before reading data or building a model."""
    from fdcmdie.__main__ import main
    out = tmp_path / "run"
    rc = main(["train", "--config", "configs/mosi.yaml", "--set", "model.pos_encoding=typo", "--out", str(out)])
    assert rc == 2 and not out.exists()
    assert "model.pos_encoding must be 'sinusoidal' or 'none', got 'typo'" in capsys.readouterr().err
