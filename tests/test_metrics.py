"""Tests for fdcmdie.metrics: hand-checked cases of the MMSA conventions (docs/MODEL.md §8)."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr

from fdcmdie.metrics import METRIC_KEYS, METRIC_NAMES, compute_metrics, format_metrics


def test_keys_and_names():
    m = compute_metrics([0.1, -0.2, 1.0], [0.3, -1.0, 2.0])
    assert list(m) == ["acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc7", "mae", "corr"]
    assert tuple(METRIC_NAMES) == METRIC_KEYS == tuple(m)
    assert all(isinstance(v, float) for v in m.values())


def test_hand_case_zero_labels_and_zero_preds():
    pred = [0.2, -0.3, 0.0, 1.5, -2.0]
    label = [0.0, -1.0, -1.0, 2.0, 1.0]
    m = compute_metrics(pred, label)
    # has-0: label>=0 [T F F T T], pred>=0 [T F T T F]: label 0 / pred 0.2 is correct,
    # pred exactly 0 vs label -1 is wrong (0 counts as non-negative) -> 3/5
    assert m["acc2_has0"] == pytest.approx(60.0)
    # weighted F1: class T (support 3) P=R=2/3; class F (support 2) P=R=1/2 -> (3*2/3 + 2*1/2)/5
    assert m["f1_has0"] == pytest.approx(60.0)
    # non-0: the label-0 sample is dropped; pred 0 vs label -1 is now correct (0 is not > 0) -> 3/4
    assert m["acc2_non0"] == pytest.approx(75.0)
    # true [F F T T], pred [F F T F]: F1(F) = 0.8, F1(T) = 2/3, supports 2/2
    assert m["f1_non0"] == pytest.approx(100 * (0.8 + 2 / 3) / 2)
    # Acc-7: rounded preds [0, -0, 0, 2, -2] vs labels [0, -1, -1, 2, 1] -> 2/5
    assert m["acc7"] == pytest.approx(40.0)
    assert m["mae"] == pytest.approx((0.2 + 0.7 + 1.0 + 0.5 + 3.0) / 5)
    assert m["corr"] == pytest.approx(pearsonr(pred, label)[0])


def test_weighted_f1_imbalanced():
    label = [1.0] * 8 + [-1.0] * 2
    pred = [1.0] * 8 + [1.0, -1.0]
    m = compute_metrics(pred, label)
    # class pos: P=8/9 R=1 F1=16/17 (support 8); class neg: P=1 R=1/2 F1=2/3 (support 2)
    want = 100 * (8 * 16 / 17 + 2 * 2 / 3) / 10          # 88.63, not macro (80.39) nor accuracy (90)
    assert m["f1_has0"] == pytest.approx(want)
    assert m["f1_non0"] == pytest.approx(want)
    assert m["acc2_has0"] == pytest.approx(90.0)


def test_acc7_rounds_half_to_even_and_clips():
    # np.round is banker's rounding: 0.5->0, 1.5->2, 2.5->2, -0.5->-0, -1.5->-2, -2.5->-2
    pred = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.49, 3.4, -3.6, 10.0]
    label = [0.0, 2.0, 2.0, 0.0, -2.0, -2.0, 2.0, 3.0, -3.0, 3.0]
    assert compute_metrics(pred, label)["acc7"] == pytest.approx(100.0)
    # with round-half-up labels the ties would match; under np.round they do not
    half_up = [1.0, 2.0, 3.0, -1.0, -2.0, -3.0, 2.0, 3.0, -3.0, 3.0]
    assert compute_metrics(pred, half_up)["acc7"] == pytest.approx(60.0)
    # labels outside [-3, 3] are clipped too
    assert compute_metrics([3.0, -2.6], [4.2, -3.9])["acc7"] == pytest.approx(100.0)
    # MAE is not clipped
    assert compute_metrics([10.0], [3.0])["mae"] == pytest.approx(7.0)


def test_corr_against_scipy_and_constant():
    rng = np.random.default_rng(0)
    label = rng.uniform(-3, 3, 200)
    pred = 0.7 * label + rng.normal(0, 1, 200)
    assert compute_metrics(pred, label)["corr"] == pytest.approx(pearsonr(pred, label)[0], abs=1e-12)
    assert compute_metrics(np.full(5, 0.3), [1.0, -1.0, 2.0, 0.0, 0.5])["corr"] == 0.0
    assert compute_metrics([1.0, -1.0, 2.0], [2.0, 2.0, 2.0])["corr"] == 0.0
    assert compute_metrics([1.0], [2.0])["corr"] == 0.0


def test_input_types_agree():
    rng = np.random.default_rng(1)
    label = np.round(rng.uniform(-3, 3, 50), 1)
    pred = rng.uniform(-3, 3, 50)
    ref = compute_metrics(pred, label)
    for p, l in ((pred.tolist(), label.tolist()),
                 (torch.tensor(pred, dtype=torch.float64), torch.tensor(label)),
                 (torch.tensor(pred, requires_grad=True)[:, None], label.reshape(-1, 1))):
        got = compute_metrics(p, l)
        assert got.keys() == ref.keys()
        for k in ref:
            assert got[k] == pytest.approx(ref[k], rel=1e-6, abs=1e-6)


def test_all_zero_labels_non0_is_nan():
    m = compute_metrics([0.1, -0.1], [0.0, 0.0])
    assert math.isnan(m["acc2_non0"]) and math.isnan(m["f1_non0"])
    assert m["acc2_has0"] == pytest.approx(50.0)


def test_errors():
    with pytest.raises(ValueError, match="length"):
        compute_metrics([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="empty"):
        compute_metrics([], [])
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics([0.1, float("nan")], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics(torch.tensor([0.1, 0.2]), torch.tensor([float("nan"), 0.2]))


def test_format_metrics():
    m = {"acc2_has0": 83.1, "f1_has0": 83.04, "acc2_non0": 84.5, "f1_non0": 84.456,
         "acc7": 42.6, "mae": 0.7581, "corr": 0.78149}
    assert format_metrics(m, decimals=1) == "Acc-2 83.1/84.5 F1 83.0/84.5 Acc-7 42.6 MAE 0.758 Corr 0.781"
    assert format_metrics(m) == "Acc-2 83.10/84.50 F1 83.04/84.46 Acc-7 42.60 MAE 0.758 Corr 0.781"
    assert "\n" not in format_metrics(compute_metrics([0.1, -0.2], [0.3, -1.0]))
