"""Coverage of the group-aware rate bound by simulation, beside the image-level Clopper–Pearson bound.

Each simulated ingest holds groups (tracks) of 1–30 images drawn uniformly; each group's true rate
is drawn from a Beta distribution with mean ``rate`` and intra-class correlation ``rho``
(beta-binomial: ``rho = 0`` independent images, ``rho = 1`` a track entirely right or wrong). The
coverage is the share of ingests whose 95 % lower bound lies at or below the true rate.

    python -m tools.group_bound_coverage          # prints the README's table
"""

import numpy as np

from safety_harness.metrics.group_bounds import grouped_bounds

RATES = (0.95, 0.99, 0.999)
CORRELATIONS = (0.0, 0.3, 0.7, 1.0)
#: groups per ingest: about the stop signs of GTSRB's test set (270 images), and 4 and 10 times as many
GROUP_COUNTS = (10, 40, 100)
MAX_GROUP_SIZE = 30
INGESTS = 2000
CONFIDENCE = 0.95


def simulate(rate: float, rho: float, groups: int, ingests: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Per-group successes and sizes, shape (ingests, groups), beta-binomial with mean ``rate`` and ICC ``rho``."""
    sizes = rng.integers(1, MAX_GROUP_SIZE + 1, (ingests, groups))
    if rho == 0:
        group_rates = np.full(sizes.shape, rate)
    elif rho == 1:
        group_rates = (rng.random(sizes.shape) < rate).astype(float)
    else:
        a, b = rate * (1 - rho) / rho, (1 - rate) * (1 - rho) / rho
        group_rates = rng.beta(a, b, sizes.shape)
    return rng.binomial(sizes, group_rates), sizes


def coverage_table(ingests: int = INGESTS, seed: int = 0) -> list[dict]:
    """One row per setting: coverage of the group-aware and of the image-level 95 % lower bound."""
    rng = np.random.default_rng(seed)
    rows = []
    for groups in GROUP_COUNTS:
        for rate in RATES:
            for rho in CORRELATIONS:
                successes, sizes = simulate(rate, rho, groups, ingests, rng)
                bounds = grouped_bounds(successes, sizes, ">=", CONFIDENCE)
                rows.append({"groups": groups, "rate": rate, "rho": rho,
                             "group_aware": float((bounds["bound"] <= rate).mean()),
                             "image_level": float((bounds["image_bound"] <= rate).mean()),
                             "median_effective_share": float(np.median(bounds["effective_n"] / sizes.sum(axis=1)))})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| groups | true rate | ICC | group-aware coverage | image-level coverage | median n_eff / n |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['groups']} | {r['rate']} | {r['rho']} | {r['group_aware']:.1%} | {r['image_level']:.1%} | "
              f"{r['median_effective_share']:.2f} |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(f"{INGESTS} simulated ingests per setting, groups of 1-{MAX_GROUP_SIZE} images, "
          f"{CONFIDENCE:.0%} one-sided lower bounds")
    print(markdown(coverage_table()))
