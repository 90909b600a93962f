"""Decision thresholds from a target false-match rate, measured on an enrolled population.

A fixed score bar encodes the population it was chosen on: in a register where strangers
look alike (dlib puts East-Asian strangers far closer together than the press photos it was
tuned on) the same bar accepts more impostors, and elsewhere it sends genuine people to
review for nothing. Here the bar is whatever score the population's own impostor pairs
(different enrolled people) exceed at most `target_fmr` of the time, with a one-sided
Clopper-Pearson upper confidence bound, so a small population gets a stricter bar, and too
small a one gets none: auto-accept stays off until enough pairs exist to support the target.

The `no_match` bar is a quantile of the impostor scores (by default 0.8): a probe no closer
to the claimed person than four strangers in five are refused; genuine probes almost never
score that low, so refusals stay rare for the people the service is for.

Everything here is arithmetic on scores; where the scores come from (which people, which
slices, which model) is the caller's business.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from biometrics.face import FloatArray


class Decision(StrEnum):
    MATCH = "match"
    REVIEW = "review"
    NO_MATCH = "no_match"


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    i = np.arange(min(k, n) + 1, dtype=np.float64)
    # log C(n, i) as a running sum of log((n - j) / (j + 1)), j < i.
    steps = np.log((n - i[:-1]) / (i[:-1] + 1.0))
    log_choose = np.concatenate([[0.0], np.cumsum(steps)])
    terms = log_choose + i * math.log(p) + (n - i) * math.log1p(-p)
    peak = float(terms.max())
    return min(1.0, math.exp(peak) * float(np.exp(terms - peak).sum()))


def fmr_upper_bound(false_matches: int, pairs: int, *, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on a rate seen false_matches times in pairs."""
    if pairs <= 0:
        return 1.0
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    if false_matches >= pairs:
        return 1.0
    if false_matches == 0:  # exact closed form
        return float(1.0 - (1.0 - confidence) ** (1.0 / pairs))
    lo, hi = false_matches / pairs, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        if _binomial_cdf(false_matches, pairs, mid) > 1.0 - confidence:
            lo = mid
        else:
            hi = mid
    return hi


def fmr_lower_bound(false_matches: int, pairs: int, *, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson lower bound; 0 when nothing was seen."""
    if false_matches <= 0 or pairs <= 0:
        return 0.0
    # The lower bound for k of n is one minus the upper bound for n - k of n.
    return 1.0 - fmr_upper_bound(pairs - false_matches, pairs, confidence=confidence)


def pairs_needed(*, target_fmr: float, confidence: float = 0.95) -> int:
    """Fewest impostor pairs that can support target_fmr (none of them a false match)."""
    if not 0.0 < target_fmr < 1.0:
        raise ValueError("target_fmr must be in (0, 1)")
    return math.ceil(math.log(1.0 - confidence) / math.log1p(-target_fmr))


def people_for_pairs(pairs: int) -> int:
    """Fewest people whose unordered pairs number at least `pairs`."""
    return max(2, math.ceil((1.0 + math.sqrt(1.0 + 8.0 * pairs)) / 2.0))


@dataclass(frozen=True)
class SliceThreshold:
    """The calibrated bars of one population (the whole register or one slice of it)."""

    pairs: int
    match: float | None  # None: too few pairs to support the target; no auto-accept
    no_match: float | None
    allowed_false_matches: int
    fmr_at_match: float | None  # observed share of impostor pairs at or above `match`
    fmr_upper: float | None  # its upper confidence bound (<= target when supported)
    pairs_needed: int
    people_needed: int

    @property
    def supported(self) -> bool:
        return self.match is not None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "pairs": self.pairs,
            "match": self.match,
            "no_match": self.no_match,
            "allowed_false_matches": self.allowed_false_matches,
            "fmr_at_match": self.fmr_at_match,
            "fmr_upper": self.fmr_upper,
            "pairs_needed": self.pairs_needed,
            "people_needed": self.people_needed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, float | int | None]) -> SliceThreshold:
        def num(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            pairs=int(data.get("pairs") or 0),
            match=num("match"),
            no_match=num("no_match"),
            allowed_false_matches=int(data.get("allowed_false_matches") or 0),
            fmr_at_match=num("fmr_at_match"),
            fmr_upper=num("fmr_upper"),
            pairs_needed=int(data.get("pairs_needed") or 0),
            people_needed=int(data.get("people_needed") or 0),
        )


def threshold_for_fmr(
    impostor_scores: FloatArray,
    *,
    target_fmr: float,
    confidence: float = 0.95,
    no_match_quantile: float = 0.8,
) -> SliceThreshold:
    """The lowest score bar whose false-match rate has an upper bound within target_fmr.

    With n impostor pairs, the bar may lie below the k highest impostor scores for the
    largest k whose Clopper-Pearson bound at n stays within the target; it sits halfway
    between the k-th and (k+1)-th highest scores, so no impostor score lies on it.
    """
    scores = np.sort(np.asarray(impostor_scores, dtype=np.float64))[::-1]
    scores = scores[np.isfinite(scores)]
    n = int(scores.size)
    needed = pairs_needed(target_fmr=target_fmr, confidence=confidence)
    people = people_for_pairs(needed)
    if not 0.0 < no_match_quantile < 1.0:
        raise ValueError("no_match_quantile must be in (0, 1)")
    no_match = float(np.quantile(scores, no_match_quantile)) if n else None
    if n < needed:
        return SliceThreshold(n, None, no_match, 0, None, None, needed, people)
    # The bound grows with k: the largest k whose bound stays within the target, by bisection.
    lo, hi = 0, min(n, math.ceil(target_fmr * n))  # the bound exceeds k / n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fmr_upper_bound(mid, n, confidence=confidence) <= target_fmr:
            lo = mid
        else:
            hi = mid - 1
    k = lo
    # The bar lies above the (k+1)-th highest score and at most the k-th: k pairs reach it.
    bar = math.nextafter(float(scores[k]), math.inf) if k < n else float(scores[-1])
    if 0 < k < n and float(scores[k - 1]) > float(scores[k]):
        bar = max(bar, (float(scores[k]) + float(scores[k - 1])) / 2.0)
    reached = int(np.count_nonzero(scores >= bar))
    return SliceThreshold(
        pairs=n,
        match=bar,
        no_match=no_match,
        allowed_false_matches=k,
        fmr_at_match=reached / n,
        fmr_upper=fmr_upper_bound(reached, n, confidence=confidence),
        pairs_needed=needed,
        people_needed=people,
    )


@dataclass(frozen=True)
class Thresholds:
    """The bars one decision uses: the strictest of the slices its person belongs to."""

    match: float | None  # None: auto-accept is off (review at best)
    no_match: float | None  # None: nothing is refused on the score alone
    reasons: tuple[str, ...] = field(default=())


def combine(overall: SliceThreshold, slices: Mapping[str, SliceThreshold | None]) -> Thresholds:
    """A person's bars: the overall ones, raised by each slice of theirs that was measured.

    A slice named but not measured (absent from the calibration) or with too few pairs
    switches auto-accept off for its people: nobody can say what its false-match rate is.
    """
    reasons: list[str] = []
    match = overall.match
    if match is None:
        reasons.append("calibration_too_few_pairs")
    no_match = overall.no_match
    for name, part in sorted(slices.items()):
        if part is None:
            reasons.append(f"calibration_slice_missing:{name}")
            match = None
            continue
        if part.match is None:
            reasons.append(f"calibration_slice_too_few_pairs:{name}")
            match = None
        elif match is not None:
            match = max(match, part.match)
        if part.no_match is not None and no_match is not None:
            no_match = min(no_match, part.no_match)
    if reasons:
        match = None
    if match is not None and no_match is not None:
        no_match = min(no_match, match)
    return Thresholds(match=match, no_match=no_match, reasons=tuple(reasons))


def decide_score(score: float | None, *, thresholds: Thresholds) -> Decision:
    """match at or above the calibrated bar, no_match below the stranger quantile, else review."""
    if score is None or not math.isfinite(score):
        return Decision.REVIEW
    if thresholds.no_match is not None and score < thresholds.no_match:
        return Decision.NO_MATCH
    if thresholds.match is not None and score >= thresholds.match:
        return Decision.MATCH
    return Decision.REVIEW


def decide_scores(
    scores: FloatArray,
    *,
    match: FloatArray | float | None,
    no_match: FloatArray | float | None,
) -> FloatArray:
    """decide_score over an array: 2 match, 1 review, 0 no_match. The bars may be one per
    score (NaN scores are reviewed, as decide_score does)."""
    s = np.asarray(scores, dtype=np.float64)
    high = np.inf if match is None else np.asarray(match, dtype=np.float64)
    low = -np.inf if no_match is None else np.asarray(no_match, dtype=np.float64)
    out = np.ones(s.shape, dtype=np.float64)
    out[s >= high] = 2.0
    out[s < low] = 0.0
    return out


def rates_at(
    *, scores: FloatArray, genuine: np.ndarray, threshold: float | None
) -> dict[str, float | int | None]:
    """False-match and false-non-match rates of labelled scores at one bar."""
    s = np.asarray(scores, dtype=np.float64)
    g = np.asarray(genuine, dtype=bool)
    imp, gen = s[~g], s[g]
    accepted_imp = int(np.count_nonzero(imp >= threshold)) if threshold is not None else 0
    missed_gen = int(np.count_nonzero(gen < threshold)) if threshold is not None else gen.size
    return {
        "impostor_pairs": int(imp.size),
        "genuine_pairs": int(gen.size),
        "false_matches": accepted_imp,
        "fmr": accepted_imp / imp.size if imp.size else None,
        "fmr_upper": fmr_upper_bound(accepted_imp, int(imp.size)) if imp.size else None,
        "fnmr": missed_gen / gen.size if gen.size else None,
    }
