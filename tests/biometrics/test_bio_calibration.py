"""Thresholds from a target false-match rate: confidence bounds, bars, slices, decisions."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics import Decision, SliceThreshold, Thresholds, decide_score, threshold_for_fmr
from biometrics.calibration import (
    combine,
    fmr_upper_bound,
    pairs_needed,
    people_for_pairs,
    rates_at,
)


def test_upper_bound_matches_known_clopper_pearson_values() -> None:
    # Zero events: 1 - 0.05^(1/n), the "rule of three" for large n.
    assert fmr_upper_bound(0, 3000) == pytest.approx(3.0 / 3000, rel=0.01)
    # Published one-sided 95% Clopper-Pearson bounds.
    assert fmr_upper_bound(1, 100) == pytest.approx(0.04656, abs=2e-5)
    assert fmr_upper_bound(5, 10_000) == pytest.approx(0.001051, abs=2e-6)
    assert fmr_upper_bound(10, 10) == 1.0
    assert fmr_upper_bound(0, 0) == 1.0
    bounds = [fmr_upper_bound(k, 5000) for k in range(10)]
    assert bounds == sorted(bounds) and all(b > k / 5000 for k, b in enumerate(bounds))
    with pytest.raises(ValueError):
        fmr_upper_bound(1, 10, confidence=1.0)


def test_pairs_and_people_needed() -> None:
    assert pairs_needed(target_fmr=0.001) == 2995
    assert people_for_pairs(2995) == 78  # 78 * 77 / 2 = 3003 pairs
    assert people_for_pairs(3004) == 79
    with pytest.raises(ValueError):
        pairs_needed(target_fmr=0.0)


def test_too_few_pairs_give_no_match_bar_and_say_how_many_people() -> None:
    result = threshold_for_fmr(np.linspace(-3, 3, 500), target_fmr=0.001)
    assert not result.supported and result.match is None
    assert result.pairs == 500 and result.pairs_needed == 2995 and result.people_needed == 78
    # The no_match bar (four strangers in five) needs no tail, so it is there.
    assert result.no_match == pytest.approx(np.quantile(np.linspace(-3, 3, 500), 0.8))


@pytest.mark.parametrize("n", [3000, 20_000, 200_000])
def test_bar_leaves_exactly_the_allowed_impostors_above_it(n: int) -> None:
    scores = np.random.default_rng(n).normal(size=n)
    result = threshold_for_fmr(scores, target_fmr=0.001)
    assert result.supported and result.match is not None
    above = int(np.count_nonzero(scores >= result.match))
    assert above == result.allowed_false_matches
    assert fmr_upper_bound(above, n) <= 0.001 < fmr_upper_bound(above + 1, n)
    assert result.fmr_upper is not None and result.fmr_upper <= 0.001
    # A normal tail: the bar sits above its 0.1% quantile, the more so the fewer pairs.
    assert result.match > 3.0


def test_bar_on_ties_and_a_single_outlier() -> None:
    scores = np.concatenate([np.zeros(4000), [9.0]])
    result = threshold_for_fmr(scores, target_fmr=0.001)
    assert result.match is not None and 0.0 < result.match
    assert np.count_nonzero(scores >= result.match) == result.allowed_false_matches
    # Non-finite scores (pairs that could not be normalised) are not impostor evidence.
    with_nan = threshold_for_fmr(np.append(scores, [np.nan, np.inf]), target_fmr=0.001)
    assert with_nan.pairs == scores.size


def test_slices_raise_the_bar_and_missing_ones_switch_auto_accept_off() -> None:
    def part(match: float | None, no_match: float) -> SliceThreshold:
        return SliceThreshold(10_000, match, no_match, 3, 0.0003, 0.0009, 2995, 78)

    overall = part(3.0, 0.0)
    bars = combine(overall, {"region:11": part(3.6, -0.2), "sex:female": part(2.5, 0.1)})
    assert bars == Thresholds(match=3.6, no_match=-0.2, reasons=())
    missing = combine(overall, {"age_band:90+": None})
    assert missing.match is None
    assert missing.reasons == ("calibration_slice_missing:age_band:90+",)
    nothing = combine(part(None, 0.0), {})
    assert nothing.match is None and nothing.reasons == ("calibration_too_few_pairs",)


def test_decide_score() -> None:
    bars = Thresholds(match=3.0, no_match=0.0)
    assert decide_score(3.0, thresholds=bars) is Decision.MATCH
    assert decide_score(2.99, thresholds=bars) is Decision.REVIEW
    assert decide_score(-0.01, thresholds=bars) is Decision.NO_MATCH
    assert decide_score(None, thresholds=bars) is Decision.REVIEW
    assert decide_score(float("nan"), thresholds=bars) is Decision.REVIEW
    assert decide_score(50.0, thresholds=Thresholds(None, 0.0)) is Decision.REVIEW


def test_round_trip_and_rates() -> None:
    result = threshold_for_fmr(np.random.default_rng(1).normal(size=5000), target_fmr=0.01)
    assert SliceThreshold.from_dict(result.as_dict()) == result
    scores = np.array([4.0, 3.5, 1.0, 0.5, 5.0, 2.0])
    genuine = np.array([True, True, True, False, False, False])
    rates = rates_at(scores=scores, genuine=genuine, threshold=3.0)
    assert rates["fmr"] == pytest.approx(1 / 3) and rates["fnmr"] == pytest.approx(1 / 3)
