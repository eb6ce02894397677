"""The expectation suites, as code: one per table, built from its declared schema plus its own rules.

A suite is a list of named checks; the name is what the config's
``quality.severity`` and the stage's error message refer to ("silver.orders:
critical check 'users exist in accounts' failed"). Suites know nothing of
stages: the job hands them the DataFrame to validate and, for checks that
compare it with other data, the reference DataFrames they name
(``REFERENCES``), registered as temporary views under those names.

Slices: a stage validates what it is about to publish (a month, a batch),
so key uniqueness is checked within that slice; the stages' own logic
(deduplication against earlier batches, one slice per month) keeps keys
unique across slices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import great_expectations.expectations as gxe
from pyspark.sql import types as T

from expectations.params import QualityConf
from transforms import catalog
from transforms.domain import CREDIT_LEVELS, GOODS_KINDS, platforms_of
from transforms.gold.params import COMPONENTS, ScoringConf
from transforms.gold.user_month import CATEGORY_WORDS
from transforms.silver import reasons as R
from transforms.sources import SourceSpec

# Reference views the suites' SQL may use (the job registers them under these names).
REFERENCES = ("accounts", "history", "contract")


@dataclass(frozen=True)
class Check:
    name: str
    expectation: Any  # a great_expectations Expectation


@dataclass(frozen=True)
class SuiteInputs:
    """What a suite needs beyond the DataFrame: settings and the slice being validated."""

    quality: QualityConf
    scoring: ScoringConf
    sources: tuple[SourceSpec, ...]  # every configured source, enabled or not, in config order
    max_order_amount_cny: float

    @property
    def platforms(self) -> tuple[str, ...]:
        """The ecosystem's platforms: the configured order sources'."""
        return platforms_of(self.sources)

    @property
    def natural_keys(self) -> dict[str, tuple[str, ...]]:
        """silver table -> its natural key (from the sources)."""
        return {s.target: s.natural_key for s in self.sources}


class CountedUnexpectedRowsExpectation(gxe.UnexpectedRowsExpectation):
    """GE's UnexpectedRowsExpectation, its query run once: for the number of rows it returns.

    GE's own also fetches up to 200 of the rows (metric ``unexpected_rows_query.table``), a
    second run of the query that only the COMPLETE result format reports; the suites report
    SUMMARY, and the runner fetches a few rows of a failed check itself. Measured on the tiny
    world's bronze suites: each query cost 0.55 s twice, about 40 % of a validation.
    """

    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.row_count",)

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None) -> dict:
        rows = metrics["unexpected_rows_query.row_count"]
        return {"success": rows == 0, "result": {"observed_value": rows}}


UNEXPECTED_ROWS = "counted_unexpected_rows_expectation"  # its GE expectation type


def unexpected_rows(description: str, query: str) -> Any:
    """A check that fails when ``query`` (over ``{batch}`` and the reference views) returns rows."""
    return CountedUnexpectedRowsExpectation(description=description, unexpected_rows_query=query)


def column_paths(schema: T.StructType, prefix: str = "") -> list[str]:
    """The columns as GE lists them: each field, then its nested fields as dotted paths."""
    paths = []
    for f in schema.fields:
        paths.append(prefix + f.name)
        if isinstance(f.dataType, T.StructType):
            paths += column_paths(f.dataType, f"{prefix}{f.name}.")
    return paths


def schema_checks(schema: T.StructType) -> list[Check]:
    """Columns in order, each column's type, and no nulls where the schema declares none."""
    checks = [Check("columns", gxe.ExpectTableColumnsToMatchOrderedList(column_list=column_paths(schema)))]
    checks += [
        Check(f"type of {f.name}", gxe.ExpectColumnTypeToBe(column=f.name, type_=type(f.dataType).__name__))
        for f in schema.fields
    ]
    checks += [
        Check(f"{f.name} not null", gxe.ExpectColumnValuesToNotBeNull(column=f.name))
        for f in schema.fields
        if not f.nullable
    ]
    return checks


def unique(*columns: str) -> Check:
    name = f"{', '.join(columns)} unique"
    if len(columns) == 1:
        return Check(name, gxe.ExpectColumnValuesToBeUnique(column=columns[0]))
    return Check(name, gxe.ExpectCompoundColumnsToBeUnique(column_list=list(columns)))


def between(column: str, low: float | None, high: float | None, **kw: Any) -> Check:
    label = (
        f"{column} >= {low:g}"
        if high is None
        else f"{column} <= {high:g}"
        if low is None
        else f"{column} in [{low:g}, {high:g}]"
    )
    return Check(label, gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high, **kw))


def in_set(column: str, values: list) -> Check:
    return Check(f"{column} in set", gxe.ExpectColumnValuesToBeInSet(column=column, value_set=values))


def users_exist(user_column: str = "user_id") -> Check:
    return Check(
        "users exist in accounts",
        unexpected_rows(
            "every user is a registered account (silver.accounts)",
            f"SELECT b.{user_column} FROM {{batch}} b LEFT ANTI JOIN accounts a ON b.{user_column} = a.user_id",
        ),
    )


# --------------------------------------------------------------------------- landing


def landing_checks() -> list[Check]:
    """The shape of every file about to be loaded (schema drift), checked before a row is read.

    The batch holds one row per (source, file, position, field, type) as the
    file carries it (``LandedFile.fields``); the reference view ``contract``
    every field each source expects (``transforms.bronze.ingest.landing_contract``).
    CSV/TSV are read by position, so their header must be the contract's
    columns in its order; Parquet is read by name with the contract's types,
    so a retyped column cannot be read at all; JSON is read by name and its
    writers omit null fields, so only a key the contract does not know (a
    renamed or added field) is drift -- a dropped JSON field shows up as rows
    quarantined for the missing value.
    """
    return [
        Check(
            "no contract field missing",
            unexpected_rows(
                "every landed CSV/TSV and Parquet file carries every field of its source's contract",
                "SELECT f.source, f.file, c.field FROM (SELECT DISTINCT source, file FROM {batch}) f "
                "JOIN contract c ON c.source = f.source AND c.format <> 'json' "
                "LEFT ANTI JOIN {batch} b ON b.source = f.source AND b.file = f.file AND b.field = c.field",
            ),
        ),
        Check(
            "no field beyond the contract",
            unexpected_rows(
                "every field of a landed file is one of its source's contract (a renamed or added field is drift)",
                "SELECT b.source, b.file, b.field FROM {batch} b "
                "LEFT ANTI JOIN contract c ON c.source = b.source AND c.field = b.field",
            ),
        ),
        Check(
            "columns in contract order",
            unexpected_rows(
                "a CSV/TSV header lists its contract's columns in the contract's order (CSV is read by position)",
                "SELECT b.source, b.file, b.field, b.position FROM {batch} b JOIN contract c "
                "ON c.source = b.source AND c.field = b.field AND c.format = 'csv' WHERE b.position <> c.position",
            ),
        ),
        Check(
            "field types as contracted",
            unexpected_rows(
                "every Parquet column has its contract's type (a retyped column cannot be read)",
                "SELECT b.source, b.file, b.field, b.type FROM {batch} b JOIN contract c "
                "ON c.source = b.source AND c.field = b.field AND c.format = 'parquet' WHERE b.type <> c.type",
            ),
        ),
    ]


# --------------------------------------------------------------------------- bronze


def bronze_checks(source: str, schema: T.StructType, q: QualityConf) -> list[Check]:
    """A source's appended rows: the contract, metadata present, every new batch non-empty and in volume.

    The ``history`` view holds (``_ingest_month``, ``n``, ``is_new``): the rows
    each earlier batch of the source has in bronze (``is_new`` false), and a
    row with ``n`` = 0 and ``is_new`` true for each batch this append is the
    first load of, so a new batch without rows is seen.
    """
    v = q.volume
    counts = (
        "SELECT m, SUM(n) AS n, MAX(is_new) AS is_new FROM ("
        "SELECT _ingest_month AS m, COUNT(*) AS n, false AS is_new FROM {batch} GROUP BY _ingest_month "
        "UNION ALL SELECT _ingest_month AS m, n, is_new FROM history) GROUP BY m"
    )
    # The batches of the months before, by a join rather than a window: a window over the whole
    # table is one partition, and Spark warns about it on every ingest.
    trailing = (
        f"WITH c AS ({counts}) SELECT b.m, b.n, b.is_new, AVG(p.n) AS trailing FROM c b JOIN c p "
        f"ON p.m < b.m AND p.m >= date_format(add_months(to_date(b.m || '-01'), -{v.trailing_batches}), "
        "'yyyy-MM') WHERE b.is_new GROUP BY b.m, b.n, b.is_new"
    )
    return [
        *schema_checks(schema),
        Check(
            "batch not empty",
            unexpected_rows(
                "every batch loaded for the first time has rows (an empty platform month is a broken feed)",
                f"SELECT m FROM ({counts}) WHERE is_new AND n = 0",
            ),
        ),
        Check(
            "volume vs trailing batches",
            unexpected_rows(
                f"a new batch has {v.min_ratio:g}x-{v.max_ratio:g}x the rows of the {v.trailing_batches} "
                "batches before it",
                f"SELECT m, n, trailing FROM ({trailing}) WHERE n < {v.min_ratio} * trailing "
                f"OR n > {v.max_ratio} * trailing",
            ),
        ),
    ]


# --------------------------------------------------------------------------- silver


def silver_checks(table: str, inputs: SuiteInputs) -> list[Check]:
    """A silver table's published batches: schema, key, domains, amounts, users, freshness."""
    target = table.split(".", 1)[1]
    schema = catalog.table(table).schema
    columns = schema.fieldNames()
    checks = [*schema_checks(schema), unique(*inputs.natural_keys[target])]
    if "platform" in columns:
        checks.append(in_set("platform", list(inputs.platforms)))
    if "amount_cny" in columns:
        checks.append(between("amount_cny", 0, inputs.max_order_amount_cny))
    if "event_month" in columns:
        checks += [
            Check(
                "event month of event date",
                unexpected_rows(
                    "event_month is the month of event_date, not after the batch",
                    "SELECT event_month FROM {batch} WHERE event_month <> date_format(event_date, 'yyyy-MM') "
                    "OR event_month > ingest_month",
                ),
            ),
            Check(
                "freshness",
                unexpected_rows(
                    f"the latest event of each batch is in the last {inputs.quality.freshness_days} days of its month",
                    "SELECT ingest_month, MAX(event_date) AS latest FROM {batch} GROUP BY ingest_month HAVING "
                    f"MAX(event_date) < date_sub(last_day(to_date(ingest_month || '-01')), "
                    f"{inputs.quality.freshness_days})",
                ),
            ),
        ]
    if target != "accounts":
        checks.append(users_exist())
    if target == "orders":
        checks += [
            in_set("item_kind", list(GOODS_KINDS)),
            in_set("channel", ["mobile", "pc"]),
            between("quantity", 1, None),
        ]
    if target == "interactions":
        checks.append(between("rating", 1, 5))
    if target == "service_events":
        checks.append(in_set("kind", ["refund", "return", "dispute"]))
    if target == "apass_reviews":
        checks += [in_set("outcome", ["kept", "removed"]), in_set("kind", ["membership", "assessment"])]
    if target == "accounts":
        checks += [in_set("gender", ["M", "F", "U"]), between("mobile_share", 0, 1)]
    return checks


def quarantine_checks() -> list[Check]:
    return [*schema_checks(catalog.table("silver.quarantine").schema), in_set("reason", sorted(R.DESCRIPTIONS))]


def reconciliation_checks() -> list[Check]:
    return [
        *schema_checks(catalog.table("ops.reconciliation").schema),
        unique("source", "ingest_month"),
        Check(
            "in = valid + quarantined + duplicates",
            unexpected_rows(
                "every bronze row is valid, quarantined or a duplicate: nothing lost, nothing invented",
                "SELECT source, ingest_month FROM {batch} "
                "WHERE rows_in <> rows_valid + rows_quarantined + rows_duplicate OR NOT balanced",
            ),
        ),
    ]


# --------------------------------------------------------------------------- gold


def known_platforms(platforms: tuple[str, ...]) -> Check:
    """Per-platform partials name configured platforms only (a gold row of a platform silver never had)."""
    known = "array(" + ", ".join(f"'{p}'" for p in platforms) + ")"  # identifiers (SourceSpec checks)
    return Check(
        "platforms known",
        unexpected_rows(
            "platforms and the keys of spend_by_platform_cny are configured platforms",
            f"SELECT platforms FROM {{batch}} WHERE size(array_except(platforms, {known})) > 0 "
            f"OR size(array_except(map_keys(spend_by_platform_cny), {known})) > 0",
        ),
    )


def category_mask_words() -> Check:
    """A category_mask has one word per 63 taxonomy categories, each a positive BIGINT (bit 63 never set)."""
    return Check(
        "category mask words",
        unexpected_rows(
            f"category_mask holds {CATEGORY_WORDS} non-negative words",
            f"SELECT category_mask FROM {{batch}} WHERE size(category_mask) <> {CATEGORY_WORDS} "
            "OR exists(category_mask, w -> w < 0)",
        ),
    )


def user_month_checks(inputs: SuiteInputs) -> list[Check]:
    schema = catalog.table("gold.user_month").schema
    return [
        *schema_checks(schema),
        unique("user_id", "month", "batch"),
        Check(
            "month not after batch",
            unexpected_rows(
                "a slice holds events of its batch month or earlier",
                "SELECT month, batch FROM {batch} WHERE month > batch",
            ),
        ),
        between("active_days_mask", 0, None),
        known_platforms(inputs.platforms),
        category_mask_words(),
    ]


def user_features_checks(inputs: SuiteInputs) -> list[Check]:
    schema = catalog.table("gold.user_features").schema
    return [
        *schema_checks(schema),
        unique("user_id", "as_of_month"),
        users_exist(),
        known_platforms(inputs.platforms),
        category_mask_words(),
        between("account_age_years", 0, None),
        between("net_spend_cny", 0, None),
        between("scored_orders", 0, None),
        between("interaction_units", 0, None),
    ]


def scores_checks(inputs: SuiteInputs) -> list[Check]:
    """gold.scores: components within their maxima, totals, bands, grades and fees consistent."""
    schema = catalog.table("gold.scores").schema
    s, q = inputs.scoring, inputs.quality
    maxima = s.component_maxima()
    b = s.bands
    band_of = (
        f"CASE WHEN score >= {b.apass_eligible} THEN 4 WHEN score >= {b.super} THEN 3 "
        f"WHEN score >= {b.lowest_band} THEN 2 ELSE 1 END"
    )
    super_share = (
        f"SELECT month, AVG(CASE WHEN score >= {b.super} THEN 1.0 ELSE 0.0 END) AS share FROM {{batch}} GROUP BY month"
    )
    return [
        *schema_checks(schema),
        unique("user_id", "month"),
        *[between(f"{c}_points", 0, maxima[c]) for c in COMPONENTS],
        Check(
            "score = sum of components",
            unexpected_rows(
                "the score is the sum of its four components",
                "SELECT user_id FROM {batch} WHERE score <> " + " + ".join(f"{c}_points" for c in COMPONENTS),
            ),
        ),
        Check(
            "band of score",
            unexpected_rows(
                "the band follows the score and scoring.bands", f"SELECT user_id FROM {{batch}} WHERE band <> {band_of}"
            ),
        ),
        Check(
            "grade and fee of band",
            unexpected_rows(
                "grade and 88VIP fee follow the band",
                f"SELECT user_id FROM {{batch}} WHERE grade <> CASE band WHEN 4 THEN 'apass_eligible' "
                "WHEN 3 THEN 'super' "
                f"ELSE 'ordinary' END OR vip_fee_cny <> CASE WHEN band >= 3 THEN {s.vip_fee_cny.member} "
                f"ELSE {s.vip_fee_cny.standard} END",
            ),
        ),
        in_set("credit_level", list(CREDIT_LEVELS)),
        between("credit_score", 0, 100),
        Check(
            "change and growth perk",
            unexpected_rows(
                f"score_change = score - previous_score; the perk is a rise of at least {s.growth_perk_rise}",
                "SELECT user_id FROM {batch} WHERE NOT (score_change <=> score - previous_score) "
                f"OR growth_perk <> COALESCE(score_change >= {s.growth_perk_rise}, false)",
            ),
        ),
        in_set("service_queue", [x.queue for x in s.service_queues]),
        # Distribution (the published share): super members are 3-5 % of members, in every month validated
        # (a stage publishes several months at once; a share pooled over them could hide one month out of range).
        Check(
            "super share at least",
            unexpected_rows(
                f"at least {q.super_share.min:.0%} of members score >= {b.super} (super members), every month",
                f"SELECT month, share FROM ({super_share}) WHERE share < {q.super_share.min}",
            ),
        ),
        Check(
            "super share at most",
            unexpected_rows(
                f"at most {q.super_share.max:.0%} of members score >= {b.super}, every month",
                f"SELECT month, share FROM ({super_share}) WHERE share > {q.super_share.max}",
            ),
        ),
    ]


def service_routing_checks(s: ScoringConf) -> list[Check]:
    schema = catalog.table("gold.service_routing").schema
    queues = [x.queue for x in s.service_queues]
    return [
        *schema_checks(schema),
        unique("user_id", "month"),
        in_set("credit_level", list(CREDIT_LEVELS)),
        in_set("queue", queues),
        between("queue_rank", 1, len(queues)),
    ]


def stability_checks(q: QualityConf) -> list[Check]:
    return [
        *schema_checks(catalog.table("ops.stability").schema),
        unique("month", "metric"),
        between("psi", 0, None),
        Check(
            "stability",
            gxe.ExpectColumnValuesToBeBetween(
                column="psi",
                max_value=q.stability.psi_warn_above,
                description=f"PSI month over month at most {q.stability.psi_warn_above:g} for every metric",
            ),
        ),
    ]


def apass_candidates_checks() -> list[Check]:
    schema = catalog.table("gold.apass_candidates").schema
    return [
        *schema_checks(schema),
        unique("user_id", "month"),
        in_set("credit_level", list(CREDIT_LEVELS)),
        Check(
            "gates and their failures agree",
            unexpected_rows(
                "a candidate passes the gates exactly when no gate failed",
                "SELECT user_id FROM {batch} WHERE passes_gates <> (size(gate_failures) = 0)",
            ),
        ),
    ]


def apass_selection_checks() -> list[Check]:
    schema = catalog.table("gold.apass_selection").schema
    decisions = ["invited", "invited_by_override", "member", "waitlisted", "gated_out", "excluded_by_override"]
    return [
        *schema_checks(schema),
        unique("user_id", "month"),
        in_set("decision", decisions),
        between("model_score", 0, 1),
        Check(
            "invitations within capacity",
            unexpected_rows(
                "the model invites at most the capacity left after invite overrides",
                "SELECT month FROM {batch} GROUP BY month HAVING COUNT(CASE WHEN invited THEN 1 END) > "
                "GREATEST(MAX(capacity), COUNT(CASE WHEN decision = 'invited_by_override' THEN 1 END))",
            ),
        ),
        Check(
            "overrides say why",
            unexpected_rows(
                "every override decision carries its reason",
                "SELECT user_id FROM {batch} WHERE decision LIKE '%override' AND override_reason IS NULL",
            ),
        ),
    ]


def apass_profile_checks() -> list[Check]:
    schema = catalog.table("gold.apass_profile").schema
    return [*schema_checks(schema), unique("month", "figure")]


def apass_renewals_checks() -> list[Check]:
    schema = catalog.table("gold.apass_renewals").schema
    return [
        *schema_checks(schema),
        unique("user_id", "expiry_year"),
        between("a_energy_points", 0, None),
        between("qualifying_spend_cny", 0, None),
        in_set("status", ["passed", "failed", "in_progress"]),
        in_set("source", ["review", "invitation", "override"]),
    ]


def apass_members_checks() -> list[Check]:
    schema = catalog.table("gold.apass_members").schema
    return [
        *schema_checks(schema),
        unique("user_id", "month"),
        in_set("status", ["active", "warned", "lapsed", "removed"]),
        in_set("joined_by", ["invitation", "override", "review"]),
        in_set("ended_by", ["renewal", "review", "override"]),
        in_set("renewal", ["passed", "failed"]),
        between("membership_year", 1, None),
        between("a_energy_points", 0, None),
        Check(
            "an ended membership says how",
            unexpected_rows(
                "lapsed and removed members, and only they, have ended_by; a lapse is a failed renewal",
                "SELECT user_id FROM {batch} WHERE (status IN ('lapsed', 'removed')) <> (ended_by IS NOT NULL) "
                "OR (status = 'lapsed') <> (ended_by = 'renewal') OR (status = 'lapsed' AND renewal <> 'failed')",
            ),
        ),
        Check(
            "overrides say who and why",
            unexpected_rows(
                "a membership begun or ended by an override carries its author and reason",
                "SELECT user_id FROM {batch} WHERE (joined_by = 'override' OR ended_by = 'override') "
                "AND (override_author IS NULL OR override_reason IS NULL)",
            ),
        ),
    ]


def apass_overrides_checks() -> list[Check]:
    return [*schema_checks(catalog.table("ops.apass_overrides").schema), in_set("action", ["invite", "exclude"])]


def personas_checks() -> list[Check]:
    schema = catalog.table("gold.personas").schema
    return [
        *schema_checks(schema),
        unique("user_id", "month"),
        between("segment", 0, None),
        between("distance", 0, None),
        Check(
            "one persona per segment",
            unexpected_rows(
                "every member of a segment has the segment's persona",
                "SELECT month, segment FROM {batch} GROUP BY month, segment HAVING COUNT(DISTINCT persona) > 1",
            ),
        ),
    ]


def persona_profiles_checks() -> list[Check]:
    schema = catalog.table("gold.persona_profiles").schema
    return [
        *schema_checks(schema),
        unique("month", "persona", "attribute", "level"),
        between("p_value", 0, 1),
        in_set("test", ["welch_t", "chi_square"]),
        Check(
            "every persona has its size",
            unexpected_rows(
                "each persona of the month has a members row",
                "SELECT persona FROM {batch} GROUP BY persona "
                "HAVING COUNT(CASE WHEN attribute = 'members' THEN 1 END) <> 1",
            ),
        ),
    ]


def checks_for(table: str, inputs: SuiteInputs) -> list[Check]:
    """The checks of ``table`` (``layer.name``; ``landing`` is the shape of the files about to be loaded)."""
    if table == "landing":
        return landing_checks()
    layer, _, name = table.partition(".")
    if layer == "bronze":
        (source,) = [s for s in inputs.sources if s.name == name]
        return bronze_checks(name, source.bronze_schema, inputs.quality)
    if table == "silver.quarantine":
        return quarantine_checks()
    if layer == "silver":
        return silver_checks(table, inputs)
    by_table = {
        "ops.reconciliation": reconciliation_checks,
        "gold.user_month": lambda: user_month_checks(inputs),
        "gold.user_features": lambda: user_features_checks(inputs),
        "gold.scores": lambda: scores_checks(inputs),
        "gold.service_routing": lambda: service_routing_checks(inputs.scoring),
        "ops.stability": lambda: stability_checks(inputs.quality),
        "gold.apass_candidates": apass_candidates_checks,
        "gold.apass_selection": apass_selection_checks,
        "gold.apass_renewals": apass_renewals_checks,
        "gold.apass_members": apass_members_checks,
        "gold.apass_profile": apass_profile_checks,
        "ops.apass_overrides": apass_overrides_checks,
        "gold.personas": personas_checks,
        "gold.persona_profiles": persona_profiles_checks,
    }
    if table not in by_table:
        raise KeyError(f"no expectation suite for {table}")
    return by_table[table]()
