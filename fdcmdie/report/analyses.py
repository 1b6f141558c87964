"""The report's analyses of the shipped checkpoints (slow: each loads its checkpoint and predicts whole splits
through ``Predictor``): GAP contributions, one-modality accuracy, Shapley shares, feature cosines and geometry, the
projection figures, and how much the T+V+A pair leans on the face. ``python -m fdcmdie report --no-analyses`` skips
them."""
from __future__ import annotations

from pathlib import Path

from ..explain.cases import split_ablations
from ..explain.contributions import average_contributions
from ..explain.geometry import feature_cosines, space_report
from ..explain.projections import fit_projection
from ..explain.shapley import split_shapley
from ..render.maps import static_figure
from ..render.shapley import share_markdown
from ..render.space import cl_effect_markdown
from ..facts import MODALITIES, cl_label
from ..inference import Predictor
from ..metrics import compute_metrics


def face_masking(checkpoints: list[str], data_root: str | None) -> list[str]:
    """How much the honest T+V+A checkpoints lean on the face: non-0 Acc-2 on valid and test with every modality and
    with the visual features masked (as a missing modality), and the last layer's mean GAP weights on test."""
    lines = ["| checkpoint | valid: all / face masked | test: all / face masked | last-layer α text / visual / acoustic "
             "(test) |", "|---|---|---|---|"]
    for ck in checkpoints:
        if not (Path(ck) / "config.json").is_file():
            continue
        pred = Predictor.load(ck)
        cells = []
        for split in ("valid", "test"):
            sp = pred.predict_split(split, data_root=data_root)
            masked = split_ablations(pred, split, data_root, variants=["ta"])["ta"]
            acc = lambda x: compute_metrics(x, sp.label)["acc2_non0"]
            cells.append(f"{acc(sp.pred):.2f} / {acc(masked):.2f}")
        alpha = average_contributions(sp.alpha, sp.present)[-1]
        lines.append(f"| `{Path(ck).name}` | {cells[0]} | {cells[1]} | " + " / ".join(f"{a:.3f}" for a in alpha) + " |")
    if len(lines) == 2:
        return []
    return ["How much the shipped pair leans on the face (the visual features masked exactly as a missing modality; "
            "`fdcmdie.explain.cases.split_ablations`):", "", *lines]


def space_analyses(items: list[tuple[str, bool, dict]], fig_dir: Path) -> tuple[list[str], list[str]]:
    """The CL effect of each shipped checkpoint in numbers (fdcmdie.explain.geometry, every test sample) and its UMAP
    and PCA maps side by side (400 test samples, seed 0), the figures written by ``render.maps.static_figure`` (the
    app's PNG / SVG export). ``items``: (checkpoint name, contrastive?, test ``features["decoupled"]``).
    Returns (table lines, figure lines)."""
    if not items:
        return [], []
    import matplotlib.pyplot as plt  # matplotlib: heavy, only when the report draws figures

    figures = ["| checkpoint | UMAP (local neighbourhoods) | PCA (global directions) |", "|---|---|---|"]
    fig_dir.mkdir(parents=True, exist_ok=True)
    reports = []
    for name, cl, decoupled in items:
        reports.append((f"`{name}` ({cl_label(cl)})", space_report(decoupled)))
        cells = []
        for method, stem in (("umap", f"projection-{name}"), ("pca", f"projection-pca-{name}")):
            proj = fit_projection(decoupled, method=method, max_samples=400, seed=0)
            extra = (f", PC1+2 = {100 * proj.reducer.explained_variance_ratio_.sum():.0f} % of variance"
                     if method == "pca" else "")
            fig = static_figure(proj, title=f"{name}: shared vs private, {proj.label}{extra} "
                                            f"({cl_label(cl)})")
            fig.savefig(fig_dir / f"{stem}.png")
            plt.close(fig)
            cells.append(f"![{name} {proj.label}](figures/{stem}.png)")
        figures.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines = ["Per-sample geometry of the same features (`fdcmdie/explain/geometry.py`, every test sample, unit "
             "vectors; the table the app's representation-space tab shows):", "",
             *cl_effect_markdown(reports, "test").splitlines()]
    return lines, ["Maps of 400 test samples × the feature sets (seed 0). UMAP (cosine) keeps local neighbourhoods: "
                   "an island is a set of points nearer each other than anything else, and the gaps between islands "
                   "mean little. PCA keeps the global geometry: compare where the shared and the private sets sit "
                   "with and without contrastive learning.", "", *figures]


def analyses(checkpoints: list[str], data_root: str | None, fig_dir: Path) -> list[str]:
    """GAP contributions per modality and layer, feature cosines and projection figures, from shipped checkpoints."""
    lines = ["| checkpoint | layer | " + " | ".join(["α text", "α visual", "α acoustic"]) + " |", "|---|---|---|---|---|"]
    cos_lines = ["| checkpoint | contrastive | cos(shared, shared) | cos(shared, private, same modality) | "
                 "cos(shared, private) | test samples |", "|---|---|---|---|---|---|"]
    keep_lines = ["| checkpoint | split | all modalities | " + " | ".join(f"only {n}" for n in ("text", "visual", "acoustic"))
                  + " |", "|---|---|---|---|---|---|"]
    figs, share_lines = [], []
    for ck in checkpoints:
        if not (Path(ck) / "config.json").is_file():
            continue
        pred = Predictor.load(ck)
        preds = pred.predict_split("test", data_root=data_root)
        mods = pred.cfg.model.modalities
        avg = average_contributions(preds.alpha, preds.present)
        if avg is not None:
            for layer, a in enumerate(avg, 1):
                cells = [f"{a[mods.index(m)]:.3f}" if m in mods else "–" for m in MODALITIES]
                lines.append(f"| `{Path(ck).name}` | {layer} | " + " | ".join(cells) + " |")
        for split in ("valid", "test"):
            sp = pred.predict_split(split, data_root=data_root)
            kept = split_ablations(pred, split, data_root, variants=[m for m in mods] if len(mods) > 1 else [])
            acc = lambda p: f"{compute_metrics(p, sp.label)['acc2_non0']:.1f}"
            keep_lines.append(f"| `{Path(ck).name}` | {split} | {acc(sp.pred)} | " +
                              " | ".join(acc(kept[m]) if m in kept else "–" for m in MODALITIES) + " |")
        c = feature_cosines(preds.features["decoupled"])
        f = lambda v: "–" if v is None else f"{v:.3f}"
        cos_lines.append(f"| `{Path(ck).name}` | {'on' if pred.cfg.loss.contrastive else 'off'} | {f(c['shared_shared'])} | "
                         f"{f(c['shared_private_same'])} | {f(c['shared_private'])} | {c['n']} |")
        figs.append((Path(ck).name, pred.cfg.loss.contrastive, preds.features["decoupled"]))
        if len(mods) > 1:
            share = share_markdown(split_shapley(pred, "test", data_root), "test", labels=preds.label,
                                   alone=kept)   # the test split's one-modality predictions, from the loop above
            share_lines += [f"- `{Path(ck).name}`: " + share.replace("**How much each modality carries** ", ""), ""]
    geo_lines, fig_lines = space_analyses(figs, fig_dir)
    return (["### Average GAP contribution α on the test split (paper Fig. 6–7)", "",
             "Mean over test samples that have every modality; one row per CMDIE layer.", "", *lines, "",
             "### What each modality carries: Acc-2 (non-0) with only one modality kept (the others masked)", "",
             "On Poria's split the validation part comes from Poria's train half, on which the 3D-CNN video vectors "
             "were fitted with labels; compare the *only visual* column on valid and test.", "", *keep_lines, "",
             "### How much each modality carries: Shapley values over the test split", "",
             "Exact Shapley values of the modalities (`fdcmdie/explain/shapley.py`; the app's model card and explorer "
             "show the same paragraph).", "", *share_lines,
             "### Shared vs private features (paper Fig. 8–9)", "",
             "Mean within-sample cosine similarity of the pooled decoupled features on the test split. Contrastive "
             "learning should raise the shared·shared cosine and lower shared·private.", "", *cos_lines, "",
             *geo_lines, "", *fig_lines, ""])
