"""Reference values of BG/NBD and Gamma-Gamma written from the papers, independently of
``segstream.models`` (a test helper: expected values must not come from the code under test).

Fader, Hardie & Lee (2005), "Counting your customers the easy way", eq. 10 and 11, in the
plain form of the paper (no Euler transformation, no log-odds: fine for the small ``x`` of
the tests); Fader & Hardie, "The Gamma-Gamma model of monetary value", eq. 5; CLV as the
discounted sum of each month's expected purchases times the expected spend, a month being
365.25 / 12 days. Checked once against lifetimes 0.11.3
(``BetaGeoFitter.conditional_expected_number_of_purchases_up_to_time``,
``conditional_probability_alive``, ``GammaGammaFitter.conditional_expected_average_profit``):
equal to 1e-12 at the parameters used in the tests.
"""

from __future__ import annotations

from scipy.special import hyp2f1

MONTH_DAYS = 365.25 / 12


def p_alive(r: float, alpha: float, a: float, b: float, x: int, t_x: float, T: float) -> float:
    """Eq. 11: P(alive | x, t_x, T)."""
    if x == 0:
        return 1.0
    return 1.0 / (1.0 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))


def expected_purchases(r: float, alpha: float, a: float, b: float, t: float, x: int, t_x: float, T: float) -> float:
    """Eq. 10: E[Y(t) | x, t_x, T], purchases in (T, T + t]."""
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    bracket = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    return head * bracket * p_alive(r, alpha, a, b, x, t_x, T)


def expected_spend(p: float, q: float, v: float, x: int, m_x: float) -> float:
    """Gamma-Gamma eq. 5: E[Z | x, m_x] = p (v + x m_x) / (p x + q - 1)."""
    return p * (v + x * m_x) / (p * x + q - 1)


def clv(
    bg: tuple[float, float, float, float],
    spend: float,
    x: int,
    t_x: float,
    T: float,
    months: int = 12,
    discount: float = 0.01,
    unit_days: float = 7.0,
) -> float:
    """Σ_{i=1..months} (E[Y(i M)] - E[Y((i-1) M)]) · spend / (1 + d)^i, M a month in ``unit_days``."""
    month = MONTH_DAYS / unit_days
    total = 0.0
    for i in range(1, months + 1):
        bought = expected_purchases(*bg, i * month, x, t_x, T) - expected_purchases(*bg, (i - 1) * month, x, t_x, T)
        total += bought * spend / (1 + discount) ** i
    return total
