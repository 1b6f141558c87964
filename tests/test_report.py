"""The results report is generated from run logs: aggregation over seeds, missing runs, commands."""
import json

import numpy as np

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
