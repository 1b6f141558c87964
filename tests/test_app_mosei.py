"""MOSEI beside MOSI in the app: a browse checkpoint (AppOptions.browse_checkpoints) is offered by the explorer and
the case studies and described on the model card, but not drawn in the representation space. The fixture is a
small real slice of MOSEI's labels (60 train / 20 valid / 30 test segments) and a tiny untrained text-only
checkpoint; the MOSI pair is the app tests' one."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from fdcmdie.app import AppContext, AppOptions
from fdcmdie.app import cases as cases_tab
from fdcmdie.app import explorer, model_card
from fdcmdie.checkpoint import save_checkpoint
from fdcmdie.config import load_config
from fdcmdie.data import Normalizer
from fdcmdie.data.location import data_file
from fdcmdie.model import build_model

SIZES = {"train": 60, "valid": 20, "test": 30}


@pytest.fixture(scope="module")
def mosei_ctx(tmp_path_factory, data_root, app_checkpoints):
    root = tmp_path_factory.mktemp("mosei-data")
    labels = pd.read_csv(data_file(data_root / "mosei" / "labels.csv"), dtype={"id": str, "video_id": str, "clip_id": str})
    part = pd.concat([labels[labels["split"] == s].head(n) for s, n in SIZES.items()])
    (root / "mosei").mkdir()
    part.to_csv(root / "mosei" / "labels.csv", index=False)
    os.symlink(data_root / "mosi", root / "mosi")              # one --data folder holds both datasets
    cfg = load_config("configs/mosei.yaml", [f"data.root={root}", "model.d=16", "model.n_heads=2", "model.k=1",
                                             f"train.cache_dir={root / 'cache'}"])
    ckpt = save_checkpoint(root / "mosei-tiny", build_model(cfg.model), cfg, Normalizer({}),
                           meta={"dataset": "mosei", "notes": ["CMU-MOSEI (slice for the app test)"]})
    cl, nocl = app_checkpoints
    opts = AppOptions(checkpoint=str(cl), compare_checkpoint=str(nocl), browse_checkpoints=(str(ckpt), str(root / "nope")),
                      data=str(root), cache_dir=str(root / "app-cache"), asr=False, warm_up=False)
    return AppContext(opts), part


def test_mosei_checkpoint_is_offered_beside_the_mosi_pair(mosei_ctx):
    ctx, _ = mosei_ctx
    assert list(ctx.slots) == ["main", "compare", "mosei-tiny"]        # a missing browse folder is left out
    labels = dict((k, v) for v, k in ctx.model_choices())
    assert labels["mosei-tiny"].endswith("CMU-MOSEI · T") and "CMU-MOSI" in labels["main"]
    assert ctx.map_keys() == ["main", "compare"]                        # the space maps only the CL pair
    steps = ctx.warmup_steps()                                          # the browse checkpoints load after Ready,
    late = [name for name, _, late in steps if late]                    # then, at low priority, their explorer view
    assert not any("mosei-tiny" in name for name, _, late in steps if not late)   # (fdcmdie/app/warmup.py)
    assert late.index("loading the browse checkpoints") < late.index("the explorer on mosei-tiny")


@pytest.mark.slow   # over 10 s of a quiet 2-core machine (the quick set: README)
def test_explorer_and_case_studies_show_mosei_samples(mosei_ctx):
    ctx, part = mosei_ctx
    test_ids = part.loc[part["split"] == "test", "id"].tolist()
    df, ids, status = explorer.filter_samples(ctx, "mosei-tiny", "test")
    assert ids == test_ids and status.startswith("30 of 30 test samples")
    assert df["text only"].tolist() == df["prediction"].tolist()         # a text-only model: the words are all it reads
    md, _, sel = explorer.sample_view(ctx, "mosei-tiny", "test", ids[0])
    text = part.set_index("id").loc[ids[0], "text"]
    assert sel["model"] == "mosei-tiny" and str(text)[:30] in md.replace("\\", "")
    _, train_ids, _ = explorer.filter_samples(ctx, "mosei-tiny", "train")
    assert len(train_ids) == 60
    cases, legend = cases_tab.case_table(ctx, "mosei-tiny")
    assert len(cases) and set(cases["id"]) <= set(test_ids) and "mosei-tiny" in legend
    mosi_cases, _ = cases_tab.case_table(ctx, "main")
    assert not set(mosi_cases["id"]) & set(test_ids)


def test_model_card_describes_both_datasets(mosei_ctx):
    ctx, _ = mosei_ctx
    card = model_card.checkpoints_markdown(ctx)
    assert "mosei-tiny" in card and "mosei" in card.lower() and "What the face vectors carry" in card
