"""The policy what-if (jobs/what_if.py) on the default world: it obeys every setting it is given."""

from __future__ import annotations

from jobs.runtime.config import load_config
from jobs.what_if import policy_what_if
from tests.e2e.conftest import LATEST, SELECTOR


def _config(root, *sets: str):
    return load_config(sets=[f"lakehouse.root={root}", *SELECTOR, *sets])


def test_the_base_policy_gives_the_published_grades_again(spark, selected):
    base = _config(selected)
    grades = policy_what_if(spark, base, base, LATEST)["grades"]
    assert [now for _, now, _ in grades] == [policy for _, _, policy in grades]
    assert sum(now for _, now, _ in grades) > 0


def test_a_lower_per_order_cap_lowers_the_super_members(spark, selected):
    """The cap table applies at aggregation: the what-if recomputes the window's slices from silver under it
    (whales' single large orders credit at most the cap), so the super members fall."""
    base = _config(selected)
    lower = _config(selected, "scoring.caps.by_kind.physical.order=2000", "scoring.caps.by_kind.virtual.order=500")
    grades = {grade: (now, policy) for grade, now, policy in policy_what_if(spark, base, lower, LATEST)["grades"]}
    super_now = grades["super"][0] + grades["apass_eligible"][0]
    super_policy = grades["super"][1] + grades["apass_eligible"][1]
    assert super_policy < super_now
    assert sum(now for now, _ in grades.values()) == sum(policy for _, policy in grades.values())  # same members
