"""The contrastive-learning effect in numbers as Markdown (the app's representation-space tab and docs/RESULTS.md
show the same table): one column per checkpoint's :class:`~fdcmdie.explain.geometry.SpaceReport`."""
from __future__ import annotations

from ..explain.geometry import SpaceReport
from ..facts import PRIVATE_SETS as PRIVATE, SHARED_SETS as SHARED


def cl_effect_markdown(reports: list[tuple[str, SpaceReport]], split: str, *, one_modality_note: str = "") -> str:
    """The contrastive-learning effect in numbers (Markdown), one column per checkpoint: cosines, alignment and
    uniformity, separability and retrieval, each block with its two-line "how to read this". The app's space tab
    and docs/RESULTS.md both show this table. ``reports``: (column label, :func:`space_report` of one checkpoint's
    split); ``one_modality_note``: shown when the checkpoints read one modality (no cross-modal shared pairs)."""
    reps = reports
    if not reps:
        raise ValueError("no checkpoints to tabulate")
    cols = [label for label, _ in reps]
    head = ["| | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    f = lambda v, d=3: "–" if v is None else f"{v:+.{d}f}".replace("-", "−")
    pct = lambda v: "–" if v is None else f"{100 * v:.1f} %"
    sums = [r.summary() for _, r in reps]
    pairs = reps[0][1].shared_pairs
    pair_text = ", ".join(p.replace("·", " · ") for p in pairs) or "no shared pairs"
    row = lambda name, key, fmt=f: f"| {name} | " + " | ".join(fmt(s[key]) for s in sums) + " |"
    sets = [k for k in SHARED + PRIVATE if any(k in r.uniformity for _, r in reps)]
    alone = [one_modality_note, ""] if not pairs and one_modality_note else []
    out = [f"### The contrastive-learning effect in numbers ({split} split, {reps[0][1].n} samples)", "", *alone,
           f"**Cosines** (1 = same direction, 0 = unrelated, −1 = opposite; shared pairs: {pair_text})", "",
           *head,
           row("shared · shared, same sample", "cos_same"),
           row("shared · shared, random pairs of samples", "cos_random"),
           row("same sample − random pairs", "cos_gap"),
           row("shared · private, same sample and modality", "cos_shared_private"), "",
           "<div class='howto'><b>How to read this.</b> Contrastive learning pulls a sample's shared text and voice "
           "features together and pushes its shared features away from its private ones: the first row rises, the "
           "last falls.<br>If the random-pair row rises as much as the same-sample row, the shared features were "
           "aligned <i>by modality</i> (all of them point one way), not sample by sample.</div>", "",
           "**Alignment and uniformity** (Wang & Isola, 2020; unit vectors)", "",
           *head,
           row("alignment of the positive pairs E‖x̂ − ŷ‖² (0 = identical, 4 = opposite)", "alignment"),
           row("… of random pairs, for comparison", "alignment_random"),
           *[f"| uniformity of {k[0]}_{k[1]} log E e^(−2‖x̂ − ŷ‖²) | " +
             " | ".join(f(r.uniformity.get(k), 2) for _, r in reps) + " |" for k in sets], "",
           "<div class='howto'><b>How to read this.</b> Alignment is how far apart a sample's paired shared features "
           "are (lower = closer); uniformity is how spread one feature set is over the sphere (0 = every sample the "
           "same vector, −4 = as spread as orthogonal vectors).<br>Good contrastive features have low alignment "
           "<i>and</i> low uniformity; low alignment with uniformity near 0 means the set collapsed.</div>", "",
           "**Can the sets be told apart?**", "",
           *head,
           row("shared sets linearly separable (logistic regression, 5-fold CV accuracy)", "separability", pct),
           row(f"a sample's own shared voice is its shared text's nearest (top-1; chance "
               f"{pct(sums[0]['chance'])})", "retrieval", pct), "",
           "<div class='howto'><b>How to read this.</b> 50 % means a straight cut cannot tell the shared text from "
           "the shared voice features (they overlap); 100 % means they sit apart, even if close.<br>The top-1 row "
           "asks whether the model can match each sentence to its own voice from the shared features alone.</div>"]
    return "\n".join(out)
