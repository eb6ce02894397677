"""gold.scores: the Taoqi score with its four components, grade, 88VIP fee and credit level C0-C6.

The formula (docs/score.md): each component is a sum of saturating
curves of 12-month inputs, so the score is monotonic in every input and no
input can earn more than its term's maximum; the credit component is a
points table over the credit level, which itself is a weighted sum of
12 dimensions. Every number comes from conf/scoring.yaml.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from transforms.domain import GRADE_BY_BAND
from transforms.gold.params import (
    COMPONENTS,
    Bands,
    CreditConf,
    CreditDimension,
    CurveTerm,
    ScoringConf,
    ServiceQueue,
    VipFee,
)
from transforms.months import month_number
from transforms.schemas import GOLD_SCORES, GOLD_SERVICE_ROUTING, conform_to

CARRY = "carry_"


def saturating(x: Column, half_at: float) -> Column:
    """1 - 2^(-x / half_at): 0 at 0, 1/2 at half_at, tends to 1; monotonic."""
    return F.lit(1.0) - F.pow(F.lit(2.0), -F.greatest(x.cast("double"), F.lit(0.0)) / F.lit(float(half_at)))


def curve(x: Column, dim: CreditDimension) -> Column:
    """A credit dimension's sub-score in [0, 1] (curves: docs/score.md#credit-levels)."""
    x = x.cast("double")
    if dim.curve == "saturating":
        return saturating(x, dim.at)
    if dim.curve == "penalty":
        return F.greatest(F.lit(1.0) - x / F.lit(dim.at), F.lit(0.0))
    return F.least(F.greatest((x - F.lit(dim.at)) / F.lit(1.0 - dim.at), F.lit(0.0)), F.lit(1.0))


def _rate(part: str, whole: Column) -> Column:
    return F.col(part) / F.greatest(whole, F.lit(1))


def credit_dimension_values(*, review_prior_positivity: float, review_prior_weight: float) -> dict[str, Column]:
    """The value of each credit dimension, as columns of gold.user_features."""
    w = float(review_prior_weight)
    return {
        "account_age_years": F.col("account_age_years"),
        "identity_verified": F.col("identity_verified").cast("double"),
        "active_months": F.col("months_active"),
        "active_days": F.col("active_days"),
        "orders": F.col("orders"),
        "net_spend_cny": F.col("net_spend_cny"),
        "platforms_used": F.col("platforms_used"),
        "review_positivity": (F.col("positive_reviews") + F.lit(review_prior_positivity * w))
        / (F.col("reviews") + F.lit(w if w > 0 else 1e-9)),
        "refund_rate": _rate("refunds", F.col("orders")),
        "return_rate": _rate("returns", F.col("orders")),
        "dispute_rate": _rate("disputes", F.col("orders")),
        "flagged_order_rate": _rate("flagged_orders", F.col("orders") + F.col("flagged_orders")),
    }


def credit_dimension_points(credit: CreditConf) -> dict[str, tuple[Column, Column]]:
    """Per dimension: (value, points = weight x sub-score)."""
    values = credit_dimension_values(
        review_prior_positivity=credit.review_prior.positivity, review_prior_weight=credit.review_prior.weight
    )
    return {
        name: (values[name], curve(values[name], dim) * F.lit(float(dim.weight)))
        for name, dim in credit.dimensions.items()
    }


def with_credit_level(features: DataFrame, *, credit: CreditConf) -> DataFrame:
    """Add ``credit_score`` (0-100, the weighted dimensions) and the level it earns."""
    points = [p for _, p in credit_dimension_points(credit).values()]
    return features.select("*", F.round(sum(points, F.lit(0.0)), 2).alias("credit_score")).transform(
        with_level, levels=credit.levels, max_level_unverified=credit.max_level_unverified
    )


def with_level(rated: DataFrame, *, levels: list[float], max_level_unverified: int) -> DataFrame:
    """Add ``credit_level_num`` (0..6): how many level bounds ``credit_score`` reaches, capped if unverified."""
    reached = sum((F.when(F.col("credit_score") >= F.lit(float(b)), 1).otherwise(0) for b in levels), F.lit(0))
    level = F.when(F.col("identity_verified"), reached).otherwise(F.least(reached, F.lit(max_level_unverified)))
    return rated.select("*", level.alias("credit_level_num"))


def component_points(terms: dict[str, CurveTerm], prefix: str = "") -> Column:
    """Points of one component: the sum of its terms' curves (inputs read with ``prefix``, e.g. carry_)."""
    total = F.lit(0.0)
    for input_name, term in terms.items():
        total = total + F.lit(float(term.max_points)) * saturating(F.col(prefix + input_name), term.half_at)
    return F.round(total).cast("int")


def scores(features: DataFrame, previous: DataFrame | None, scoring: ScoringConf) -> DataFrame:
    """Score every member of ``features`` for each of its as-of months, in one plan, by the rules of
    ``scoring`` (the components' curves, the credit level's points, the bands, the 88VIP fee, the
    growth perk, the service queues).

    ``previous`` holds gold.scores rows of months before those (the month
    before the first of them, for its change), or None.
    """
    components, credit_points_by_level = scoring.components, scoring.credit_points_by_level
    credit, bands, vip_fee = scoring.credit, scoring.bands, scoring.vip_fee_cny
    growth_perk_rise, queues = scoring.growth_perk_rise, scoring.service_queues
    rated = features.transform(with_credit_level, credit=credit)
    credit_points = F.element_at(
        F.array(*[F.lit(round(p)) for p in credit_points_by_level]), F.col("credit_level_num") + 1
    )
    shopping = [c for c in COMPONENTS if c != "credit"]
    current = {c: component_points(components.get(c, {})) for c in shopping}
    carry = sum((component_points(components.get(c, {}), CARRY) for c in shopping), credit_points)
    scored = rated.select(
        "user_id",
        F.col("as_of_month").alias("month"),
        "credit_score",
        "credit_level_num",
        *[current[c].alias(f"{c}_points") for c in shopping],
        credit_points.alias("credit_points"),
        carry.alias("carry_score"),
    ).select("*", sum((F.col(f"{c}_points") for c in COMPONENTS), F.lit(0)).alias("score"))

    return (
        scored.transform(with_change, previous, growth_perk_rise=growth_perk_rise)
        .transform(with_grade, bands=bands, vip_fee=vip_fee)
        .select(
            "*",
            F.concat(F.lit("C"), F.col("credit_level_num").cast("string")).alias("credit_level"),
            service_queue(queues).alias("service_queue"),
        )
        .transform(conform_to, GOLD_SCORES)
    )


def with_change(scored: DataFrame, previous: DataFrame | None, *, growth_perk_rise: int) -> DataFrame:
    """Add the member's score of the month before, the change and the growth perk.

    ``scored`` holds one or more months (``month``, ``score``); the month
    before each is found among them or in ``previous`` (earlier months'
    gold.scores, or None), in one window: no join of the scores with themselves.
    """
    ours = F.lit(True)
    rows = scored.select("*", ours.alias("_ours"))
    if previous is not None:
        rows = rows.unionByName(
            previous.select("user_id", "month", "score", F.lit(False).alias("_ours")), allowMissingColumns=True
        )
    month_before = Window.partitionBy("user_id").orderBy(month_number("month")).rangeBetween(-1, -1)
    with_previous = (
        rows.select("*", F.max("score").over(month_before).alias("previous_score")).filter(F.col("_ours")).drop("_ours")
    )
    change = F.col("score") - F.col("previous_score")
    return with_previous.select(
        "*", change.alias("score_change"), F.coalesce(change >= growth_perk_rise, F.lit(False)).alias("growth_perk")
    )


def with_grade(scored: DataFrame, *, bands: Bands, vip_fee: VipFee) -> DataFrame:
    """Add band, grade, 88VIP fee, the gap to the next band and the points to keep this one.

    Needs ``score`` and ``carry_score`` (next month's score if nothing new happens).
    """
    floors = bands.floors()
    band = sum((F.when(F.col("score") >= f, 1).otherwise(0) for f in floors), F.lit(1))
    floor_of_band = F.element_at(F.array(*[F.lit(f) for f in [0, *floors]]), F.col("band"))
    next_floor = F.element_at(F.array(*[F.lit(f) for f in [*floors, 0]]), F.col("band"))
    return scored.select("*", band.alias("band")).select(
        "*",
        F.element_at(F.array(*[F.lit(g) for g in GRADE_BY_BAND]), F.col("band")).alias("grade"),
        F.when(F.col("score") >= bands.super, F.lit(vip_fee.member))
        .otherwise(F.lit(vip_fee.standard))
        .alias("vip_fee_cny"),
        F.when(F.col("band") < 4, next_floor - F.col("score")).alias("next_band_gap"),
        F.when(F.col("band") > 1, F.greatest(floor_of_band - F.col("carry_score"), F.lit(0))).alias("keep_band_points"),
    )


def service_queue(queues: list[ServiceQueue]) -> Column:
    """The first queue whose lowest credit level the member reaches (higher levels are answered first)."""
    queue = None
    for q in queues:
        cond = F.col("credit_level_num") >= q.min_level
        queue = F.when(cond, F.lit(q.queue)) if queue is None else queue.when(cond, F.lit(q.queue))
    return queue.otherwise(F.lit(queues[-1].queue))


def service_routing(scores_df: DataFrame, *, queues: list[ServiceQueue]) -> DataFrame:
    """Customer-service routing by credit level: each member's queue and its rank (1 is answered first)."""
    rank = F.create_map(*[x for i, q in enumerate(queues, start=1) for x in (F.lit(q.queue), F.lit(i))])
    return scores_df.select(
        "user_id",
        "month",
        "credit_level",
        F.col("service_queue").alias("queue"),
        rank[F.col("service_queue")].alias("queue_rank"),
    ).transform(conform_to, GOLD_SERVICE_ROUTING)
