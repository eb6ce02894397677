"""The suite's own guard: a shared world past its deadline fails once and leaves the session usable."""

import pytest

from tests.conftest import deadline


def test_a_world_past_its_deadline_fails_with_its_name_and_the_session_goes_on(spark):
    with (
        pytest.raises(pytest.fail.Exception, match="the endless world did not finish within 1 s"),
        deadline(spark, 1, "the endless world"),
    ):
        spark.range(10**12).selectExpr("max(id)").collect()  # hours on two cores, cancelled after a second
    assert spark.range(3).count() == 3  # same session, same gateway


def test_a_world_within_its_deadline_passes_its_own_errors_through(spark):
    with pytest.raises(ZeroDivisionError), deadline(spark, 60, "a quick world"):
        _ = 1 / 0
