"""How far the smallest of a set of values lies below the others: the MAD-based anomaly index.

``index = |median(v) - min(v)| / (1.4826 * MAD)``, ``MAD = median_i |v_i - median(v)|``; the
factor 1.4826 makes the MAD a consistent estimate of the standard deviation of normally
distributed values, so an index above 2 puts the smallest value beyond about two standard
deviations (below 5 % chance under normality). Neural Cleanse flags the class whose reverse-
engineered trigger norm has an index above 2; only the low side counts, since a backdoor makes a
class *easier* to reach.

Reference: B. Wang et al., "Neural Cleanse: Identifying and Mitigating Backdoor Attacks in
Neural Networks", IEEE S&P 2019, section IV; F. R. Hampel, "The influence curve and its role in
robust estimation", JASA 69 (1974), for the MAD.
"""

import numpy as np

#: makes the median absolute deviation a consistent estimator of a normal distribution's standard deviation
MAD_CONSISTENCY = 1.4826


def smallest_value_anomaly_index(values) -> tuple[float, int]:
    """The anomaly index of the smallest of ``values`` and its position.

    Parameters
    ----------
    values : array-like of shape (k,), k >= 3
        Finite values (e.g. per-class trigger norms).

    Returns
    -------
    (index, position): ``index`` >= 0; ``inf`` when the MAD is 0 and the smallest value lies
    below the median (more than half the values are equal, and one is smaller); 0 when it
    equals the median. ``position`` is the first position of the smallest value.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 3:
        raise ValueError(f"values must be a 1-d array of at least 3 values, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite")
    median = np.median(values)
    mad = np.median(np.abs(values - median))
    position = int(np.argmin(values))
    deviation = median - values[position]
    if deviation == 0:
        return 0.0, position
    if mad == 0:
        return float("inf"), position
    return float(deviation / (MAD_CONSISTENCY * mad)), position
