"""The domain's values, written once: the platforms, the category groups, the grades and the credit levels.

The published system (docs/concepts.md): four platforms of one ecosystem; grades by score band (below
1000 ordinary, from 1000 super members, from 2500 APASS-eligible); credit levels C0 to C6.
"""

from __future__ import annotations

from transforms.taxonomy import GROUPS

PLATFORMS: tuple[str, ...] = ("taobao", "tmall", "fliggy", "taopiaopiao")
CATEGORY_GROUPS: tuple[str, ...] = GROUPS  # everyday, luxury, ... whale: the taxonomy's, in its order
GRADES: tuple[str, ...] = ("ordinary", "super", "apass_eligible")
GRADE_BY_BAND: tuple[str, ...] = ("ordinary", "ordinary", "super", "apass_eligible")  # bands 1..4
CREDIT_LEVELS: tuple[str, ...] = tuple(f"C{level}" for level in range(7))
