"""Hash-seeded random columns: the same value for the same seed and keys on any partitioning.

Every draw is ``xxhash64(seed, name, keys...)``: no Spark ``rand()`` (whose
stream depends on the partition a row lands in), no driver-side state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

_TWO_53 = float(1 << 53)


def uniform(seed: int, name: str, *keys: Column | str) -> Column:
    """U[0, 1) from a 53-bit slice of the hash of (seed, name, keys)."""
    digest = F.xxhash64(F.lit(seed), F.lit(name), *[F.col(k) if isinstance(k, str) else k for k in keys])
    return F.shiftrightunsigned(digest, 11).cast("double") / F.lit(_TWO_53)


def normal(seed: int, name: str, *keys: Column | str) -> Column:
    """Standard normal by Box-Muller from two independent uniforms."""
    u1 = F.greatest(uniform(seed, f"{name}#1", *keys), F.lit(1e-300))
    u2 = uniform(seed, f"{name}#2", *keys)
    return F.sqrt(F.lit(-2.0) * F.log(u1)) * F.cos(F.lit(2.0 * math.pi) * u2)


def stochastic_round(x: Column, u: Column) -> Column:
    """floor(x + u): an integer whose mean is x, so small rates still produce events."""
    return F.floor(x + u).cast("int")


def choice(u: Column, keys: Sequence[str], cumulative: Sequence[Column]) -> Column:
    """The key whose cumulative-weight bucket holds ``u``; the last key takes any remainder."""
    expr = None
    for key, upper in zip(keys[:-1], cumulative[:-1], strict=True):
        expr = F.when(u < upper, F.lit(key)) if expr is None else expr.when(u < upper, F.lit(key))
    last = F.lit(keys[-1])
    return last if expr is None else expr.otherwise(last)


def choice_fixed(u: Column, weights: dict[str, float]) -> Column:
    """``choice`` for weights that are the same for every row."""
    total = sum(weights.values())
    running, bounds = 0.0, []
    for value in weights.values():
        running += value / total
        bounds.append(F.lit(running))
    return choice(u, list(weights), bounds)
