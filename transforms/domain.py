"""The domain's values, written once: the platforms, the category groups and kinds, the grades, the credit levels.

The published system (docs/concepts.md): the platforms of one ecosystem (Taobao, Tmall, Fliggy and
Taopiaopiao in the default configuration); grades by score band (below 1000 ordinary, from 1000 super
members, from 2500 APASS-eligible); credit levels C0 to C6.

The platforms are not a list here: they are the configured order sources' (:func:`platforms_of`), so
that a platform is added by adding its source (docs/contributing.md#adding-a-source).
"""

from __future__ import annotations

from collections.abc import Iterable

from transforms.sources import SourceSpec
from transforms.taxonomy import GROUPS, KINDS


def platforms_of(sources: Iterable[SourceSpec]) -> tuple[str, ...]:
    """The platforms of ``sources`` (their order sources'), each once, in the sources' order."""
    return tuple(dict.fromkeys(s.platform for s in sources if s.platform is not None))


CATEGORY_GROUPS: tuple[str, ...] = GROUPS  # everyday, luxury, ... food_delivery: the taxonomy's, in its order
GOODS_KINDS: tuple[str, ...] = KINDS  # physical, virtual, food_delivery: the rows of the score's cap table
GRADES: tuple[str, ...] = ("ordinary", "super", "apass_eligible")
GRADE_BY_BAND: tuple[str, ...] = ("ordinary", "ordinary", "super", "apass_eligible")  # bands 1..4
CREDIT_LEVELS: tuple[str, ...] = tuple(f"C{level}" for level in range(7))
