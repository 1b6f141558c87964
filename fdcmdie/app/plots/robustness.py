"""The model card's robustness figure (plotly): the metric with each modality removed, against the noise level and
against the word-drop probability, one colour per checkpoint (the docs' PNG of the same panels:
:func:`fdcmdie.render.robustness.save_figure`)."""
from __future__ import annotations

from ...explain import MOD_NAMES
from ...explain.robustness import curve
from ...metrics import METRIC_NAMES
from ...render.robustness import PALETTE

KIND_TITLES = {"drop": "modality removed", "noise": "Gaussian noise on one modality (σ × feature σ)",
               "words": "words dropped at random"}
DASHES = {"t": "solid", "v": "dash", "a": "dot"}


def robustness_figure(results: list[dict], metric: str = "acc2_non0", *, height: int = 380):
    """Plotly: (1) the metric with each modality removed, bars; (2) the metric against the noise level, one line per
    modality (dash) and checkpoint (colour); (3) against the word-drop probability. Clean input: the bars' first group
    and each curve's point at 0."""
    import plotly.graph_objects as go  # plotly: heavy, only for the app's figure
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=[KIND_TITLES["drop"], KIND_TITLES["noise"],
                                                        KIND_TITLES["words"]], horizontal_spacing=0.07)
    for i, r in enumerate(results):
        color, name = PALETTE[i % len(PALETTE)], r["checkpoint"]
        bars_x = ["none"] + [MOD_NAMES[c["modality"]] for c in r["conditions"] if c["kind"] == "drop"]
        bars_y = [r["clean"][metric]] + [c["metrics"][metric] for c in r["conditions"] if c["kind"] == "drop"]
        fig.add_trace(go.Bar(x=bars_x, y=bars_y, name=name, legendgroup=name, marker_color=color,
                             hovertemplate=f"{name}<br>removed: %{{x}}<br>%{{y:.2f}}<extra></extra>"), row=1, col=1)
        for m in r["modalities"]:
            xs, ys = curve(r, "noise", m, metric)
            if len(xs) > 1:
                fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"{name} · {MOD_NAMES[m]}",
                                         legendgroup=name, showlegend=False,
                                         line=dict(color=color, dash=DASHES[m]),
                                         hovertemplate=f"{name}<br>{MOD_NAMES[m]} noise %{{x}}σ: %{{y:.2f}}<extra></extra>"),
                              row=1, col=2)
        xs, ys = curve(r, "words", "t", metric)
        if len(xs) > 1:
            fig.add_trace(go.Scatter(x=[100 * x for x in xs], y=ys, mode="lines+markers", name=f"{name} · words",
                                     legendgroup=name, showlegend=False, line=dict(color=color),
                                     hovertemplate=f"{name}<br>p = %{{x:.0f}} %: %{{y:.2f}}<extra></extra>"),
                          row=1, col=3)
    label = METRIC_NAMES.get(metric, metric)
    fig.update_yaxes(title_text=label, row=1, col=1)
    fig.update_xaxes(title_text="noise σ (× feature σ); line style: text solid, visual dash, acoustic dot", row=1, col=2)
    fig.update_xaxes(title_text="each word dropped with probability (%)", row=1, col=3)
    fig.update_layout(height=height, barmode="group", plot_bgcolor="white", margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=-0.35, x=0))
    fig.update_yaxes(gridcolor="#eee")
    return fig
