"""fdcmdie.explain.geometry: the CL-effect metrics against closed forms, and on synthetic spaces built to be aligned
by sample or by modality only; nearest neighbours in the shared / private space."""
from __future__ import annotations

import numpy as np
import pytest

from fdcmdie.explain import geometry as G


def test_alignment_closed_forms():
    x = np.random.default_rng(0).normal(size=(50, 16))
    assert G.alignment(x, x) == pytest.approx(0.0, abs=1e-12)            # identical vectors
    assert G.alignment(x, 3.0 * x) == pytest.approx(0.0, abs=1e-12)      # only directions count
    assert G.alignment(x, -x) == pytest.approx(4.0)                       # ‖x̂ − (−x̂)‖² = 4
    e = np.eye(8)
    assert G.alignment(e, np.roll(e, 1, axis=0)) == pytest.approx(2.0)   # orthogonal pairs: ‖x̂ − ŷ‖² = 2
    assert G.alignment(e, np.roll(e, 1, axis=0), alpha=1) == pytest.approx(np.sqrt(2))


def test_uniformity_closed_forms():
    assert G.uniformity(np.eye(10)) == pytest.approx(-4.0)               # orthonormal: log e^(−2·2)
    assert G.uniformity(np.eye(10), t=0.5) == pytest.approx(-1.0)        # −2t in general
    assert G.uniformity(np.tile([1.0, 2.0, 3.0], (7, 1))) == pytest.approx(0.0, abs=1e-12)  # collapsed
    assert G.uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)         # antipodal pair
    # mixed: one identical pair (distance 0) and two orthogonal pairs (distance² 2) → log((1 + 2e^-4) / 3)
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert G.uniformity(x) == pytest.approx(np.log((1 + 2 * np.exp(-4.0)) / 3))
    with pytest.raises(ValueError, match="at least 2"):
        G.uniformity(np.ones((1, 3)))


@pytest.mark.parametrize("n", [2, 3, 5, 17, 100])
def test_derangement_has_no_fixed_point(n):
    for seed in range(5):
        p = G.derangement(n, seed)
        assert sorted(p.tolist()) == list(range(n)) and not np.any(p == np.arange(n))


def _spread(n, d, rng):
    return rng.normal(size=(n, d))


def test_report_tells_sample_alignment_from_modality_alignment():
    rng = np.random.default_rng(1)
    n, d = 200, 32
    # aligned by sample: each sample's shared voice is its shared text plus a little noise
    ts = _spread(n, d, rng)
    by_sample = {"Ts": ts, "As": ts + 0.1 * rng.normal(size=(n, d)), "Td": -ts + rng.normal(size=(n, d)),
                 "Ad": rng.normal(size=(n, d))}
    # aligned by modality only: every shared vector is one common direction plus independent noise
    common = rng.normal(size=d) * 3
    by_modality = {"Ts": common + rng.normal(size=(n, d)), "As": common + rng.normal(size=(n, d)),
                   "Td": -common + rng.normal(size=(n, d)), "Ad": -common + rng.normal(size=(n, d))}
    a = G.space_report(by_sample).summary()
    b = G.space_report(by_modality).summary()
    assert a["cos_same"] > 0.9 and abs(a["cos_random"]) < 0.1 and a["cos_gap"] > 0.8
    assert a["retrieval"] == 1.0 and a["alignment"] < 0.05
    assert b["cos_same"] > 0.8 and abs(b["cos_gap"]) < 0.03           # same-sample = random pairs
    assert b["retrieval"] < 0.05 and b["alignment"] == pytest.approx(b["alignment_random"], abs=0.02)
    assert b["cos_shared_private"] < -0.7                               # shared pushed away from private
    assert b["uniformity_shared"] > -1.0 > a["uniformity_shared"]        # collapsed towards 0 vs spread
    assert a["chance"] == pytest.approx(1 / n)


def test_report_on_three_modalities_and_missing_ones():
    rng = np.random.default_rng(2)
    n, d = 60, 8
    feats = {f: rng.normal(size=(n, d)) for f in ("Ts", "Vs", "As", "Td", "Vd", "Ad")}
    feats["Vs"][:10] = 0  # ten samples without a face
    feats["Vd"][:10] = 0
    rep = G.space_report(feats)
    assert rep.shared_pairs == ["Ts·Vs", "Ts·As", "Vs·As"]
    assert len(rep.cos_same) == (n - 10) + n + (n - 10)                 # zero vectors are left out
    assert len(rep.cos_shared_private) == n + (n - 10) + n
    assert set(rep.uniformity) == set(feats) and set(rep.separability) == {"Ts|Vs", "Ts|As", "Vs|As"}
    assert all(0.0 <= v <= 1.0 for v in rep.separability.values())
    with pytest.raises(ValueError, match="no decoupled features"):
        G.space_report({"x": np.ones((3, 2))})


def test_pair_cosines_same_and_random():
    e = np.eye(6)
    c = G.pair_cosines({"Ts": e, "As": 2 * e}, "Ts", "As")
    assert np.allclose(c["same"], 1.0) and np.allclose(c["random"], 0.0)  # random pairs are other samples


def test_separability_separates_and_confuses():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 5)) + [5, 0, 0, 0, 0]
    y = rng.normal(size=(100, 5)) - [5, 0, 0, 0, 0]
    assert G.separability(x, y) == 1.0
    same = G.separability(rng.normal(size=(200, 5)), rng.normal(size=(200, 5)))
    assert 0.3 < same < 0.7


def test_sample_space_neighbours():
    rng = np.random.default_rng(4)
    n, d = 40, 6
    feats = {f: rng.normal(size=(n, d)) for f in ("Ts", "As", "Td", "Ad")}
    for f in ("Ts", "As"):
        feats[f][7] = 3.0 * feats[f][3]     # sample 7's shared features point exactly like sample 3's
    space = G.SampleSpace(feats)
    rows, sims = space.neighbours(3, k=5, part="shared")
    assert rows[0] == 7 and sims[0] == pytest.approx(1.0, abs=1e-6)
    assert 3 not in rows and len(rows) == 5 and np.all(np.diff(sims) <= 1e-9)
    # similarity = mean over modalities of the per-modality cosines
    j = rows[2]
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert sims[2] == pytest.approx(np.mean([cos(feats[f][3], feats[f][j]) for f in ("Ts", "As")]), abs=1e-5)
    # brute force agrees on the private side
    rows_p, sims_p = space.neighbours(3, k=n, part="private")
    assert len(rows_p) == n - 1 and 3 not in rows_p
    brute = sorted((np.mean([cos(feats[f][3], feats[f][r]) for f in ("Td", "Ad")]), r) for r in range(n) if r != 3)
    assert rows_p[0] == brute[-1][1] and rows_p[-1] == brute[0][1]
    with pytest.raises(ValueError, match="part must be"):
        space.neighbours(0, part="both")
    with pytest.raises(ValueError, match="outside the split"):
        space.neighbours(n)


def test_report_section_numbers_and_both_figures(tmp_path):
    from fdcmdie.report import space_analyses

    rng = np.random.default_rng(5)
    n, d = 80, 12
    common = rng.normal(size=d) * 3
    feats = {"Ts": common + rng.normal(size=(n, d)), "As": common + rng.normal(size=(n, d)),
             "Td": -common + rng.normal(size=(n, d)), "Ad": -common + rng.normal(size=(n, d))}
    table, figures = space_analyses([("toy", True, feats)], tmp_path)
    s = G.space_report(feats).summary()
    f = lambda v: f"{v:+.3f}".replace("-", "−")
    assert "| | `toy` (with CL) |" in table   # the app's table (render.space.cl_effect_markdown): a column per checkpoint
    assert f"| shared · shared, same sample | {f(s['cos_same'])} |" in table
    assert f"| shared · shared, random pairs of samples | {f(s['cos_random'])} |" in table
    assert f"| shared · private, same sample and modality | {f(s['cos_shared_private'])} |" in table
    assert any(line.startswith("| shared sets linearly separable") and f"| {100 * s['separability']:.1f} % |" in line
               for line in table)
    for stem in ("projection-toy", "projection-pca-toy"):
        assert (tmp_path / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"(figures/{stem}.png)" in "\n".join(figures)
    assert space_analyses([], tmp_path) == ([], [])
