"""Representation-space tab: UMAP maps of the six decoupled feature sets, with-CL and without-CL side by side
(paper Fig. 8–9, live). Maps come from the background (never computed in a request); the selected sample and the
latest upload are drawn on top, the upload placed with the fitted map's ``transform``."""
from __future__ import annotations

from ..data import DataError
from ..explain.projections import COLOR_BY, feature_cosines, projection_figure
from .common import placeholder_figure
from .context import AppContext

SLOTS = ("main", "compare")
COLOR_CHOICES = [(label, key) for key, label in COLOR_BY.items()]


def map_states(ctx: AppContext, split: str) -> tuple:
    """A token of what the maps of ``split`` look like now (the timer redraws only when it changes)."""
    return tuple(ctx.projection_state(k, split) if k in ctx.slots else "absent" for k in SLOTS)


def projection_view(ctx: AppContext, split: str, color_by: str = "feature", selected: dict | None = None,
                    upload: dict | None = None):
    """(figure with CL, figure without CL, status Markdown, cosine Markdown, state token). Starts the maps in the
    background when they are not there yet and returns placeholders meanwhile."""
    split = split or "test"
    figs, notes = [], []
    for key in SLOTS:
        if key not in ctx.slots:
            figs.append(placeholder_figure("no comparison checkpoint (start the app with --compare-checkpoint)"))
            continue
        try:
            p = ctx.predictor(key)
        except ValueError as e:
            figs.append(placeholder_figure("checkpoint not loaded"))
            notes.append(str(e))
            continue
        label = ctx.slots[key].label
        try:
            view = ctx.split_view(key, split)  # seconds at most (predictions); the map itself is never made here
        except (DataError, FileNotFoundError) as e:
            figs.append(placeholder_figure("no dataset: the map needs MOSI (see the explorer tab)"))
            notes.append(ctx.data_help(e))
            continue
        state = ctx.request_projection(key, split)
        if state != "ready":
            if state.startswith("failed"):
                figs.append(placeholder_figure(f"the map could not be computed: {state[8:]}"))
                notes.append(f"{label}: {state}")
            else:
                figs.append(placeholder_figure(f"computing the UMAP map of the {split} split for {label} …<br>"
                                               "it appears here by itself when ready"))
                notes.append(f"{label}: map of the {split} split is being computed in the background.")
            continue
        proj = ctx.projection(key, split)
        P = view.preds
        sel = None
        if selected and selected.get("split") == split and selected.get("id") in view.row_of:
            row = view.row_of[selected["id"]]
            sel = proj.points_of(row) or proj.transform({f: v[row] for f, v in P.features["decoupled"].items()})
        up = None
        if upload and upload.get(key, {}).get("decoupled"):
            up = proj.transform(upload[key]["decoupled"])
        cl = "with" if p.cfg.loss.contrastive else "without"
        figs.append(projection_figure(
            proj, ids=P.ids, texts=P.texts, labels=P.label, preds=P.pred, color_by=color_by or "feature",
            selected=sel, selected_name=f"sample {selected['id']}" if sel else "selected sample", upload=up,
            title=f"{label} — {cl} contrastive learning ({proj.n_samples} {split} samples)"))
    status = "\n\n".join(notes) if notes else (
        f"Maps of the {split} split. Select a sample in the explorer or upload a clip to see where it lands.")
    return figs[0], figs[1], status, cosine_markdown(ctx, split), map_states(ctx, split)


def cosine_markdown(ctx: AppContext, split: str) -> str:
    """Mean within-sample cosines between feature sets for each checkpoint: the numbers behind the maps."""
    cols, values = [], []
    for key in SLOTS:
        if key in ctx.slots and ctx.ready(("split", key, split)):
            try:
                view = ctx.split_view(key, split)
            except (ValueError, FileNotFoundError):
                continue
            cols.append(ctx.slots[key].label)
            values.append(feature_cosines(view.preds.features["decoupled"]))
    if not cols:
        return ""
    rows = [("shared · shared (T_s·V_s, T_s·A_s, V_s·A_s)", "shared_shared"),
            ("shared · private, same modality (X_s·X_d)", "shared_private_same"),
            ("shared · private, all pairs", "shared_private"),
            ("private · private", "private_private")]
    out = ["Mean cosine similarity within a sample (1 = same direction, 0 = unrelated):", "",
           "| | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, k in rows:
        out.append(f"| {name} | " + " | ".join("–" if v[k] is None else f"{v[k]:.3f}" for v in values) + " |")
    return "\n".join(out)


def refresh_if_changed(ctx: AppContext, split: str, color_by: str, selected: dict | None, upload: dict | None,
                       shown: tuple | None):
    """Timer callback: redraw when a map finished since the last draw, else skip (``gr.skip()``)."""
    import gradio as gr

    token = map_states(ctx, split or "test")
    if shown is not None and tuple(shown) == token:
        return (gr.skip(),) * 5
    return projection_view(ctx, split, color_by, selected, upload)
