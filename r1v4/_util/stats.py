"""The small statistics reports need, written out so no new dependency is needed.

- `wilson_interval`: a 95% confidence interval for an accuracy. Unlike the normal
  approximation it stays inside [0, 1] and behaves at 0 % and 100 % and for small samples,
  which is exactly where a quick 30-case run lives.
- `mcnemar`: the paired test for "is run B more accurate than run A on the same cases".
  Only the discordant pairs matter (A right / B wrong = b, A wrong / B right = c). For few
  discordant pairs the exact binomial test is used; for many, the chi-square statistic with
  continuity correction, which agrees with the exact test there and avoids huge sums.
- `percentile`: latency percentiles for a batch's closing summary.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from fractions import Fraction

# z for a two-sided 95% interval.
Z95 = 1.959963984540054

# Below this many discordant pairs the exact binomial test is used.
EXACT_MAX_DISCORDANT = 25


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for `successes` out of `n`; None when there is nothing to estimate."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} must lie in 0..n={n}")
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class McNemarResult:
    """Outcome of McNemar's test on paired right/wrong outcomes."""

    b: int  # first right, second wrong
    c: int  # first wrong, second right
    p_value: float
    method: str  # "exact" (binomial) or "chi2-cc" (chi-square, continuity-corrected)
    statistic: float | None = None  # chi-square statistic, for the asymptotic method


def binomial_two_sided_half(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n trials under p = 1/2.

    Symmetric distribution, so p = 2 * P(X <= min(k, n - k)), capped at 1. Computed with
    exact integers so large n does not underflow.
    """
    if n == 0:
        return 1.0
    low = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(low + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def mcnemar(b: int, c: int, *, exact: bool | None = None) -> McNemarResult:
    """McNemar's test for b (first right, second wrong) and c (first wrong, second right).

    `exact=None` chooses the exact binomial test when b + c < EXACT_MAX_DISCORDANT.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n = b + c
    use_exact = n < EXACT_MAX_DISCORDANT if exact is None else exact
    if use_exact:
        return McNemarResult(b, c, binomial_two_sided_half(b, n), "exact")
    stat = max(0, abs(b - c) - 1) ** 2 / n if n else 0.0
    # Survival function of chi-square with 1 degree of freedom.
    p = math.erfc(math.sqrt(stat / 2))
    return McNemarResult(b, c, min(1.0, p), "chi2-cc", stat)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (1..99, inclusive method); the value itself for one value."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class LogHistogram:
    """Non-negative values (latencies) counted in buckets 0.1% wide, relative, so the
    percentiles of any number of values cost a few thousand counters at most (one bucket
    per 0.1% step between the smallest and the largest value). A percentile is the one
    `percentile` gives, within 0.1%; the smallest and the largest value are exact."""

    RATIO = 1.001
    FLOOR = 1e-6  # values below count as this

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0
        self.low = math.inf
        self.high = -math.inf

    def __len__(self) -> int:
        return self.n

    def __bool__(self) -> bool:
        return self.n > 0

    def add(self, value: float) -> None:
        value = max(float(value), self.FLOOR)
        key = math.floor(math.log(value) / math.log(self.RATIO))
        self.counts[key] = self.counts.get(key, 0) + 1
        self.n += 1
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def _at_rank(self, rank: int) -> float:
        """The value of the rank-th smallest (0-based): its bucket's geometric middle."""
        seen = 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            if seen > rank:
                middle = self.RATIO ** (key + 0.5)
                return min(max(middle, self.low), self.high)
        return self.high

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (1..99), interpolated between ranks as `percentile` does."""
        if not self.n:
            return None
        if self.n == 1:
            return self.low
        position = (self.n - 1) * q / 100
        below = math.floor(position)
        low = self._at_rank(below)
        high = self._at_rank(min(below + 1, self.n - 1))
        return low + (high - low) * (position - below)
