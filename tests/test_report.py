"""The results report is generated from run logs: aggregation over seeds, missing runs, commands."""
import json
from pathlib import Path

import numpy as np
import pytest

from fdcmdie.checkpoint import DEFAULT_PAIR
from fdcmdie.report import build


def write_log(path, test, valid=None, epochs=3):
    path.mkdir(parents=True)
    lines = [{"event": "config"}] + [{"event": "epoch", "epoch": e, "seconds": 10.0} for e in range(1, epochs + 1)]
    lines.append({"event": "test", "best_epoch": 2, "valid": valid or test, "test": test})
    (path / "log.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")


def metrics(acc):
    return dict(acc2_has0=acc - 1, f1_has0=acc - 1, acc2_non0=acc, f1_non0=acc, acc7=30.0, mae=0.9, corr=0.7)


def test_report_aggregates_seeds_and_lists_commands(tmp_path):
    runs = tmp_path / "runs"
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""runs_dir: {runs}
experiments:
  - {{name: full, group: headline, config: configs/mosi.yaml, seeds: [1, 2, 3], label: "full model", paper: FD-CMDIE}}
  - {{name: nocl, group: headline, config: configs/mosi.yaml, set: [loss.contrastive=false], seeds: [1], label: "w/o CL", paper: w/o CL}}
  - {{name: abl, group: ablation, config: configs/mosi.yaml, set: [model.use_cmdie=false], seeds: [1], label: "w/o CMDIE"}}
""")
    for seed, acc in ((1, 80.0), (2, 82.0)):  # seed 3 not run
        write_log(runs / f"full-s{seed}", metrics(acc))
    write_log(runs / "abl-s1", metrics(76.0))
    out = tmp_path / "RESULTS.md"
    text = build(str(plan), None, out, with_analyses=False)
    assert out.read_text() == text
    full = next(l for l in text.splitlines() if l.startswith("| full model"))
    sd = np.std([80.0, 82.0], ddof=1)
    assert "| 2 |" in full and f"81.00 ± {sd:.2f}" in full
    assert "| w/o CL (`nocl`) | 0 | not run yet" in text
    assert "paper: FD-CMDIE | – | 86.75 / 88.60" in text
    assert "76.00" in next(l for l in text.splitlines() if l.startswith("| w/o CMDIE"))
    assert f"--set train.seed=3 --out {runs}/full-s3` |" in text and "| full-s3 | not run |" in text
    assert "_No finished runs yet" in text  # the sweep groups


def test_report_groups_baseline_seeds_and_compares_with_the_finetuned_row(tmp_path):
    runs = tmp_path / "runs"
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""runs_dir: {runs}
experiments:
  - {{name: mosi-std-ta-ft, group: headline, config: configs/mosi-ft.yaml, seeds: [1, 2], label: "ft"}}
""")
    for seed, acc in ((1, 83.0), (2, 84.0)):
        write_log(runs / f"mosi-std-ta-ft-s{seed}", metrics(acc))
    for seed, acc in ((1, 84.0), (2, 85.0)):
        path = runs / f"baseline-ft-standard-s{seed}"
        path.mkdir(parents=True)
        (path / "log.jsonl").write_text(json.dumps({"event": "test", "label": "text-only FT", "test": metrics(acc)}) + "\n")
    text = build(str(plan), None, tmp_path / "R.md", with_analyses=False)
    base = next(l for l in text.splitlines() if l.startswith("| text-only FT"))
    assert "(`baseline-ft-standard`) | 2 |" in base and "84.50 ±" in base
    # Welch: t = -1 / sqrt(0.5/2 + 0.5/2) = -sqrt(2) with 2 degrees of freedom, so p = 1 - sqrt(2)/2 = 0.29
    assert "non-0 Acc-2 83.50 vs 84.50 (-1.00 points, Welch's t-test over seeds p = 0.29)" in text


def test_report_orders_the_ablations_next_to_the_paper(tmp_path):
    runs = tmp_path / "runs"
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""runs_dir: {runs}
experiments:
  - {{name: mosi-std-ta, group: headline, config: configs/mosi.yaml, seeds: [1, 2], label: "full", paper: FD-CMDIE}}
  - {{name: abl-no-cmdie, group: ablation, config: configs/mosi.yaml, seeds: [1], label: "w/o CMDIE", paper: w/o CMDIE}}
  - {{name: abl-no-gap, group: ablation, config: configs/mosi.yaml, seeds: [1], label: "w/o GAP", paper: w/o GAP}}
  - {{name: abl-mpnet, group: ablation, config: configs/mosi.yaml, seeds: [1], label: "MPNet", paper: w/o NeoBERT}}
""")
    for seed, acc in ((1, 80.0), (2, 81.0)):
        write_log(runs / f"mosi-std-ta-s{seed}", metrics(acc))
    for name, acc in (("abl-no-cmdie", 76.5), ("abl-no-gap", 80.0), ("abl-mpnet", 81.5)):
        write_log(runs / f"{name}-s1", metrics(acc))
    text = build(str(plan), None, tmp_path / "R.md", with_analyses=False)
    # paired by seed: the ablations ran seed 1 only, so they are compared with the full model's seed 1 (80.0)
    assert "- here: w/o CMDIE −3.50 (1 seeds); w/o GAP +0.00 (1 seeds); encoder swap +1.50 (1 seeds)" in text
    assert "- paper (Table 7, full model 88.60): w/o CMDIE −4.64; encoder swap −2.92; w/o GAP −1.87" in text
    assert "order here: w/o CMDIE > w/o GAP > encoder swap; paper: w/o CMDIE > encoder swap > w/o GAP." in text
    # the full model's seed std is 0.71: GAP's 0.00 is within it, CMDIE's −3.50 and MPNet's +1.50 are not
    assert "not distinguishable with these seeds): w/o GAP." in text


def test_e5_ladder_chooses_by_validation_with_the_twin_as_a_rung(tmp_path):
    """The e5 ladder: rungs not run are listed, the twin (top-2 rung, 2 seeds) competes on its mean validation MAE,
    and "where the points go" subtracts the regressor's seed 1 from each rung's seed 1 — whatever the test says."""
    runs = tmp_path / "runs"
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""runs_dir: {runs}
experiments:
  - {{name: mosi-std-t-e5, group: e5, config: configs/mosi-e5.yaml, set: ["model.modalities=[t]"], seeds: [1, 2], label: "twin"}}
  - {{name: ladder-e5-t-frozen, group: ladder-e5, config: configs/mosi-e5.yaml, set: [model.text_finetune_layers=0], seeds: [1], label: "frozen"}}
  - {{name: ladder-e5-t-top4, group: ladder-e5, config: configs/mosi-e5.yaml, set: [model.text_finetune_layers=4], seeds: [1], label: "top4"}}
""")
    def rec(acc, mae):
        return {**metrics(acc), "mae": mae}
    write_log(runs / "ladder-e5-t-frozen-s1", rec(86.0, 0.70), valid=rec(80.0, 0.80))    # best test, worst valid
    write_log(runs / "mosi-std-t-e5-s1", rec(84.0, 0.78), valid=rec(83.0, 0.74))
    write_log(runs / "mosi-std-t-e5-s2", rec(83.0, 0.79), valid=rec(83.0, 0.78))        # twin's mean valid MAE 0.76
    reg = runs / "baseline-ft-e5-standard-s1"
    reg.mkdir(parents=True)
    (reg / "log.jsonl").write_text(json.dumps({"event": "test", "label": "e5 regressor", "test": rec(85.0, 0.70),
                                               "valid": rec(84.0, 0.72)}) + "\n")
    text = build(str(plan), None, tmp_path / "R.md", with_analyses=False)
    section = text[text.index("## Text-path ladder on multilingual-e5-small"):]
    assert "| top4 (`ladder-e5-t-top4`) | 0 | not run yet" in section
    twin = next(l for l in section.splitlines() if "(`mosi-std-t-e5`)" in l)
    assert "| 2 |" in twin and "0.760 ±" in twin
    assert "`ladder-e5-t-frozen` +1.00, `mosi-std-t-e5` -1.00" in section
    assert "Best rung by validation MAE (mean over a rung's seeds): `mosi-std-t-e5` (valid MAE 0.760)" in section


def test_report_compares_the_mosei_rows_in_their_section(tmp_path):
    runs = tmp_path / "runs"
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""runs_dir: {runs}
experiments:
  - {{name: mosei-t, group: mosei, config: configs/mosei.yaml, seeds: [1, 2], label: "MiniLM"}}
  - {{name: mosei-t-e5, group: mosei, config: configs/mosei.yaml, seeds: [1, 2], label: "e5"}}
""")
    for name, accs in (("mosei-t", (83.0, 84.0)), ("mosei-t-e5", (84.0, 85.0))):
        for seed, acc in enumerate(accs, 1):
            write_log(runs / f"{name}-s{seed}", metrics(acc))
    text = build(str(plan), None, tmp_path / "R.md", with_analyses=False)
    section = text.split("## MOSEI")[1].split("\n## ")[0]
    # the same closed form as above, the other way round: +1 point, p = 1 - sqrt(2)/2
    assert ("- `mosei-t-e5` (2 seed(s)) vs the same on frozen MiniLM (`mosei-t`, 2 seed(s)): non-0 Acc-2 84.50 vs 83.50 "
            "(+1.00 points, Welch's t-test over seeds p = 0.29)") in section


# -- the report driven by the plan's report: section ----------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "configs" / "experiments.yaml"


def section(text: str, title_start: str) -> str:
    """The body of the first "## " section whose title starts with ``title_start``."""
    return text.split(f"\n## {title_start}", 1)[1].split("\n## ", 1)[0]


def test_a_comparison_added_to_the_committed_plan_as_one_yaml_line_appears(tmp_path):
    """The committed plan, its runs_dir pointed at fresh logs, with one line added under report.comparisons.standard:
    the sentence appears in that section with the means and Welch's p worked out by hand; without the line it
    does not."""
    runs = tmp_path / "runs"
    for name, accs in (("abl-no-gap", (80.0, 82.0)), ("abl-no-cmdie", (78.0, 80.0))):
        for seed, acc in enumerate(accs, 1):
            write_log(runs / f"{name}-s{seed}", metrics(acc))
    text = PLAN.read_text().replace("runs_dir: runs\n", f"runs_dir: {runs}\n", 1)
    assert "\n    standard:\n" in text
    plain, added = tmp_path / "plain.yaml", tmp_path / "added.yaml"
    plain.write_text(text)
    added.write_text(text.replace("\n    standard:\n",
                                  "\n    standard:\n      - [abl-no-gap, abl-no-cmdie, the CMDIE ablation]\n", 1))
    # two seeds each, both variances 2: t = 2 / sqrt(2/2 + 2/2) = sqrt(2), 2 degrees of freedom, p = 1 - sqrt(2)/2
    sentence = ("- `abl-no-gap` (2 seed(s)) vs the CMDIE ablation (`abl-no-cmdie`, 2 seed(s)): non-0 Acc-2 81.00 vs "
                f"79.00 (+2.00 points, Welch's t-test over seeds p = {1 - np.sqrt(2) / 2:.2f}), MAE 0.900 vs 0.900, "
                "Corr 0.700 vs 0.700.")
    with_line = build(str(added), None, tmp_path / "A.md", with_analyses=False)
    assert sentence in section(with_line, "MOSI standard split")
    assert sentence not in build(str(plain), None, tmp_path / "P.md", with_analyses=False)


def test_a_plan_of_its_own_orders_the_sections_and_states_its_comparisons(tmp_path):
    runs = tmp_path / "runs"
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""runs_dir: {runs}
experiments:
  - {{name: a, group: headline, config: configs/mosi.yaml, seeds: [1, 2], label: "recipe a"}}
  - {{name: b, group: headline, config: configs/mosi.yaml, seeds: [1], label: "recipe b"}}
report:
  sections: [standard, commands]
  titles: {{standard: "Our rows", commands: "How to rerun"}}
  comparisons:
    standard:
      - [b, a, "recipe a"]
""")
    for seed, acc in ((1, 80.0), (2, 81.0)):
        write_log(runs / f"a-s{seed}", metrics(acc))
    write_log(runs / "b-s1", metrics(83.0))
    text = build(str(plan), None, tmp_path / "R.md", with_analyses=False)
    assert [line for line in text.splitlines() if line.startswith("## ")] == ["## Our rows", "## How to rerun"]
    assert ("- `b` (1 seed(s)) vs recipe a (`a`, 2 seed(s)): non-0 Acc-2 83.00 vs 80.50 (+2.50 points), "
            "MAE 0.900 vs 0.900, Corr 0.700 vs 0.700.") in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(plan.read_text().replace("- [b, a, \"recipe a\"]", "- [b, a]"))
    with pytest.raises(ValueError, match=r"report.comparisons.standard\[0\] must be \[row, reference, what\]"):
        build(str(bad), None, tmp_path / "B.md", with_analyses=False)


def mean_of_logs(name: str, key: str) -> float:
    """The mean test ``key`` over ``runs/<name>-s*/log.jsonl`` (the committed logs), read without the report."""
    finals = [json.loads(p.read_text().splitlines()[-1]) for p in sorted((ROOT / "runs").glob(f"{name}-s*/log.jsonl"))]
    return float(np.mean([f["test"][key] for f in finals if f.get("event") == "test"]))


def test_the_first_results_table_opens_with_the_default_pair_its_peers_and_the_paper(tmp_path):
    """Over the committed plan and logs: the first table of the report is the default pair (with CL, then without),
    the text-only twin and the plain e5 regressor, then the paper's rows; the replaced leak-selected Poria rows are
    only in the history section."""
    default, nocl = (Path(p).name for p in DEFAULT_PAIR)
    text = build(str(PLAN), None, tmp_path / "RESULTS.md", with_analyses=False)
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("| model |")))
    table = [line for line in lines[start + 2:start + 20]]
    table = table[:table.index("")]
    assert f"(`{default}`) |" in table[0] and f"(`{nocl}`) |" in table[1]
    assert f"{mean_of_logs(default, 'acc2_non0'):.2f}" in table[0] and f"{mean_of_logs(nocl, 'mae'):.3f}" in table[1]
    names = [line.split("(`")[-1].split("`)")[0] for line in table if "(`" in line]
    assert names == [default, nocl, "mosi-std-t-e5", "baseline-ft-e5-standard"]
    assert [line.split(" | ")[0] for line in table[-4:]] == [f"| paper: {p}" for p in ("FD-CMDIE", "UniMSE", "Self-MM",
                                                                                       "MISA")]
    assert "mosi-poria-tav" not in section(text, "MOSI standard split").split("Measured baselines")[0]
    assert "(`mosi-poria-tav`) | 5 |" in section(text, "History")
    assert lines.index(next(line for line in lines if line.startswith("## Headline"))) < start


def expected_differences(cfg: dict) -> list[str]:
    """What "How this differs" must say of a checkpoint config (config.json's "config"), derived here on its own."""
    m, t, l = cfg["model"], cfg["train"], cfg["loss"]
    n = m["text_finetune_layers"]
    want = [f"`{m['text_encoder']}` ({m['text_dim']}-d)", f"model width d = {m['d']}",
            "frozen, with cached token states" if n == 0 else "the whole encoder fine-tuned" if n < 0
            else f"its top {n} layers fine-tuned"]
    want.append(f"unlike it: {t['epochs']} epochs (paper 50)" if t["epochs"] != 50 else "50 epochs")
    if l["modality_dropout"] and "a" in l["dropout_modalities"] and "a" in m["modalities"]:
        want.append(f"the acoustic input dropped for {round(100 * l['modality_dropout'])} % of training samples")
    want.append(" + ".join({"t": "text", "v": "visual", "a": "acoustic"}[x] for x in m["modalities"]))
    return want


def test_how_this_differs_is_read_from_the_default_checkpoint_config(tmp_path, monkeypatch):
    """The section states the default checkpoint's own encoder, depth tuned, width, epochs and dropout (read here
    from its config.json), and follows the config when it changes (a copy with a frozen MiniLM, 50 epochs and no
    dropout)."""
    import fdcmdie.report.sections as sections

    info = json.loads((ROOT / DEFAULT_PAIR[0] / "config.json").read_text())
    text = section(build(str(PLAN), None, tmp_path / "R.md", with_analyses=False), "How this differs")
    for want in expected_differences(info["config"]):
        assert want in text, want
    encoder_line = next(line for line in text.splitlines() if line.startswith("- **Text encoder**"))
    assert info["config"]["model"]["text_encoder"] != "minilm" and "MiniLM" not in encoder_line
    assert info["meta"]["notes"][0] in text

    cfg = json.loads(json.dumps(info["config"]))
    cfg["model"].update(text_encoder="minilm", text_finetune_layers=0, d=64)
    cfg["train"]["epochs"] = 50
    cfg["loss"]["modality_dropout"] = 0.0
    other = tmp_path / "other-default"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({**info, "config": cfg}))
    (other / "model.safetensors").write_bytes(b"")        # read_checkpoint_info only asks that it exists
    monkeypatch.setattr(sections, "DEFAULT_PAIR", (str(other), str(other) + "-nocl"))
    text = section(build(str(PLAN), None, tmp_path / "R2.md", with_analyses=False), "How this differs")
    for want in expected_differences(cfg):
        assert want in text, want
    assert "dropped for" not in text and "unlike it: nothing" in text


def test_checkpoint_info_reads_config_json_once_for_a_folder_or_its_run(tmp_path):
    """CheckpointInfo (what the report's "How this differs" reads): the config, meta and normaliser of config.json,
    from a checkpoint folder or a run folder holding checkpoint/, without the weights; anything else is refused."""
    import shutil

    from fdcmdie.checkpoint import CheckpointInfo
    from fdcmdie.config import Config

    raw = json.loads((ROOT / DEFAULT_PAIR[0] / "config.json").read_text())
    run = tmp_path / "run"
    shutil.copytree(ROOT / DEFAULT_PAIR[0], run / "checkpoint")
    for path in (ROOT / DEFAULT_PAIR[0], run):
        info = CheckpointInfo.read(path)
        assert info.config == Config.from_dict(raw["config"]) and info.meta == raw["meta"]
        assert info.modalities == raw["config"]["model"]["modalities"] and info.normalizer == raw["normalizer"]
    assert CheckpointInfo.read(run).path == run / "checkpoint"
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        CheckpointInfo.read(tmp_path)
