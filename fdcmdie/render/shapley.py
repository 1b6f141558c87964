"""How much each modality carries, in words (the model card, the explorer and docs/RESULTS.md show this paragraph),
from exact Shapley values (:class:`~fdcmdie.explain.shapley.ModalityShapley`)."""
from __future__ import annotations

import numpy as np

from ..explain.shapley import ModalityShapley, alone_correlations, modality_share
from ..facts import MODALITY_NAMES


def share_markdown(sv: ModalityShapley, split: str, *, labels: np.ndarray | None = None,
                   alone: dict[str, np.ndarray] | None = None) -> str:
    """One paragraph for the model card, the explorer and docs/RESULTS.md: how far each modality moves the
    predictions of a split (``modality_share``), and, given the labels and predictions with only some modalities
    kept (``alone``: {"t": (N,), "a": (N,), …} as ``explain.cases.split_ablations`` returns), how well each
    modality predicts on its own (Pearson r against the labels)."""
    if len(sv.modalities) < 2:
        return (f"This checkpoint reads one modality ({MODALITY_NAMES[sv.modalities[0]]}): its Shapley value is the "
                "whole prediction minus the baseline." if sv.modalities else "")
    share = modality_share(sv)
    parts = [f"{MODALITY_NAMES[m]} {v['mean_abs']:.2f} ({v['share']:.0%})" for m, v in share.items()]
    text = (f"**How much each modality carries** ({split} split, {len(sv.phi)} samples, exact Shapley values): on "
            f"average it moves the prediction by {', '.join(parts)} (mean |φ|, share of the total).")
    weakest = min(share, key=lambda m: share[m]["mean_abs"])
    w = share[weakest]
    if w["mean_abs"] > 0 and abs(w["mean"]) >= 0.5 * w["mean_abs"]:
        text += (f" Much of the {MODALITY_NAMES[weakest]}'s part is one push for every sample (mean φ {w['mean']:+.2f}), "
                 "which moves the predictions without telling the samples apart.")
    if labels is not None and alone:
        rs = [f"{' + '.join(MODALITY_NAMES[m] for m in keep)} alone r = {r:.2f}"
              for keep, r in alone_correlations(labels, alone).items()]
        if rs:
            text += (" Each on its own (the others marked missing), against the labels: " + "; ".join(rs) + ".")
    return text
