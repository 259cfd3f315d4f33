"""Intervals over seeds for the reports: Student's t quantile and the 95 % interval of a difference of means.

The rule (``delta_interval``): with both arms' seeds known,

- **paired** t interval on the per-seed differences when both arms completed the same set of
  distinct seeds and there are at least 2 of them (the normal study case: every arm runs seeds
  0..n-1, and a seed fixes the data and eval draws of every arm);
- **Welch** t interval (unequal variances, Welch-Satterthwaite degrees of freedom) otherwise,
  when each arm has at least 2 values;
- no interval (``method`` None) when either arm has fewer than 2 values.

A zero standard error (all differences equal, or both arms constant) gives the point interval
[d, d], which is never marked as beyond noise: with a handful of seeds and a small test set it
means the seeds happened to agree (equal accuracies), not that the spread is nil. The t quantile is computed here (bisection on the t distribution function, itself the
regularised incomplete beta function), so scipy is not needed.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd

CONFIDENCE = 0.95


class Interval(NamedTuple):
    """A confidence interval of a difference of means; ``method`` is "paired", "welch" or None (no interval)."""

    low: float
    high: float
    method: str | None

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies strictly above or strictly below 0 (False without an
        interval, and for a point interval of zero spread)."""
        return self.method is not None and self.high > self.low and (self.low > 0 or self.high < 0)


NO_INTERVAL = Interval(float("nan"), float("nan"), None)


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and 0 <= x <= 1 (continued fraction, modified Lentz; Numerical Recipes 6.4)."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"regularized_incomplete_beta: x must lie in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    if x > (a + 1) / (a + b + 2):  # the continued fraction converges fast only below this point
        return 1.0 - regularized_incomplete_beta(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a


def _beta_continued_fraction(a: float, b: float, x: float, tiny: float = 1e-300) -> float:
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 1000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            return result
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` > 0 degrees of freedom (df need not be an integer)."""
    tail = 0.5 * regularized_incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p, for 0 < p < 1 and df > 0, by bisection on ``t_cdf`` (to about 1e-12)."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, 2 * high
    while high - low > 1e-12 * max(1.0, high):
        middle = (low + high) / 2
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2


def delta_interval(ours: pd.Series, baseline: pd.Series, confidence: float = CONFIDENCE) -> Interval:
    """The ``confidence`` t interval of mean(ours) - mean(baseline); both series hold one value per seed,
    indexed by seed (the rule: see the module docstring)."""
    ours, baseline = ours.dropna(), baseline.dropna()
    if len(ours) < 2 or len(baseline) < 2:
        return NO_INTERVAL
    if ours.index.is_unique and baseline.index.is_unique and set(ours.index) == set(baseline.index):
        differences = ours - baseline.reindex(ours.index)
        return _t_interval(differences.mean(), differences.var(ddof=1) / len(differences), len(differences) - 1,
                           confidence, "paired")
    ours_var, baseline_var = ours.var(ddof=1) / len(ours), baseline.var(ddof=1) / len(baseline)
    variance = ours_var + baseline_var
    df = variance ** 2 / (ours_var ** 2 / (len(ours) - 1) + baseline_var ** 2 / (len(baseline) - 1)) if variance >= ZERO_VARIANCE else math.inf
    return _t_interval(ours.mean() - baseline.mean(), variance, df, confidence, "welch")


# Variances below this (squared units of the values; the report passes points, i.e. a spread
# under 1e-4 points) are rounding noise of equal accuracies (trials store float32 accuracies,
# and 0.1 - 0.3 != -0.2 in floating point): they give the point interval, not a sliver that
# excludes 0.
ZERO_VARIANCE = 1e-8


def _t_interval(difference: float, variance: float, df: float, confidence: float, method: str) -> Interval:
    if variance < ZERO_VARIANCE:
        return Interval(difference, difference, method)
    half_width = t_quantile(0.5 + confidence / 2, df) * math.sqrt(variance)
    return Interval(difference - half_width, difference + half_width, method)
