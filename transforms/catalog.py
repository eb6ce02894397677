"""The table catalogue: every table the job publishes, with its schema, partitioning, producing stage and
description, written once.

Reads (a missing table names the stage to run), table creation (schema, partitioning, the description
as the Delta table comment, column descriptions as column comments, table properties), the quality suites
and the docs' table reference (docs/tables.md) all come from here. Bronze tables are one per source, with the
source's own columns (:func:`bronze`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T

from transforms import schemas as S


@dataclass(frozen=True)
class Table:
    name: str  # layer.table, e.g. silver.orders
    schema: T.StructType
    partitioned_by: tuple[str, ...]
    producer: str  # the taoqi stage that publishes it
    description: str
    # Delta table properties it is created with, besides the history every table keeps (jobs/runtime/tables.py)
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def layer(self) -> str:
        return self.name.partition(".")[0]


def statistics_on(*columns: str) -> tuple[tuple[str, str], ...]:
    """The property that has Delta keep each file's minimum, maximum and null count of ``columns`` only: the
    columns the job filters a large table by (its partitions aside), so that Delta skips files by them. Delta's
    default, the first 32 columns, costs every write (docs/performance.md#the-tables-statistics)."""
    return (("delta.dataSkippingStatsColumns", ",".join(columns)),)


# What the job filters silver by: a batch's rows (replaceWhere, the duplicate check), and a member's (forget).
SILVER_FILTERS = ("user_id", "ingest_month", "source")
# The risk flags' MERGE updates a few rows in each file of the months it reaches: with deletion vectors Delta
# writes those rows again and marks the old ones deleted, instead of writing every file they sit in again.
DELETION_VECTORS = (("delta.enableDeletionVectors", "true"),)
# Bronze is read by batch (its partitions) and nothing filters it by a column: Delta's per-file minimum, maximum
# and null count of the first 32 columns would only cost every load (row counts are kept all the same).
NO_COLUMN_STATISTICS = (("delta.dataSkippingNumIndexedCols", "0"),)


def _event_table(
    name: str, schema: T.StructType, description: str, properties: tuple[tuple[str, str], ...] = ()
) -> Table:
    """A silver event table: partitioned by event month, statistics on SILVER_FILTERS unless ``properties`` say."""
    return Table(name, schema, ("event_month",), "conform", description, properties or statistics_on(*SILVER_FILTERS))


CATALOG: dict[str, Table] = {
    t.name: t
    for t in [
        _event_table(
            "silver.orders",
            S.SILVER_ORDERS,
            "Orders of every enabled platform in one schema, in CNY and Asia/Shanghai time; one row per "
            "platform and order id. Risk-flagged orders are marked, never dropped.",
            properties=DELETION_VECTORS + statistics_on(*SILVER_FILTERS),
        ),
        _event_table(
            "silver.interactions",
            S.SILVER_INTERACTIONS,
            "Reviews, Q&A, likes, live streams, content and seller chats; one row per platform and event id.",
        ),
        Table(
            "silver.accounts",
            S.SILVER_ACCOUNTS,
            (),
            "conform",
            "One row per member: the account and its profile, the latest record of each user.",
            statistics_on(*SILVER_FILTERS, "registered_date"),
        ),
        _event_table(
            "silver.service_events",
            S.SILVER_SERVICE_EVENTS,
            "After-sales tickets: refunds, returns and disputes, one row per platform and ticket.",
        ),
        _event_table(
            "silver.risk_flags",
            S.SILVER_RISK_FLAGS,
            "Risk-control flags; each also marks the order it names in silver.orders (Delta MERGE).",
        ),
        _event_table(
            "silver.apass_reviews",
            S.SILVER_APASS_REVIEWS,
            "The APASS program's yearly reviews of its members: the selector's labels.",
        ),
        Table(
            "silver.quarantine",
            S.SILVER_QUARANTINE,
            ("ingest_month",),
            "conform",
            "Every rejected row with its reason; never silently dropped.",
        ),
        Table(
            "ops.ingest_manifest",
            S.OPS_INGEST_MANIFEST,
            ("source",),
            "ingest",
            "The file ledger: every landed file, loaded once by its content hash.",
        ),
        Table(
            "ops.reconciliation",
            S.OPS_RECONCILIATION,
            (),
            "conform",
            "Per source and batch: rows in = valid + quarantined + duplicates. An unbalanced batch stops the run.",
        ),
        Table(
            "gold.user_month",
            S.GOLD_USER_MONTH,
            ("month",),
            "aggregate",
            "Each member's month as a landing batch knows it (a slice): one row per member, month and batch "
            "that changed it, over every event of the month arrived by then; the score of month M reads each "
            "month's latest slice up to batch M.",
            statistics_on("user_id", "batch"),
        ),
        Table(
            "gold.user_features",
            S.GOLD_USER_FEATURES,
            ("as_of_month",),
            "score",
            "Per member and as-of month: the account and the 12-month roll-up of gold.user_month ending there, "
            "from each month's latest slice up to its batch (what was known then).",
            statistics_on("user_id"),
        ),
        Table(
            "gold.scores",
            S.GOLD_SCORES,
            ("month",),
            "score",
            "Per member and month: the four components, the score, band, grade, 88VIP fee, credit level, the "
            "change since last month and the growth perk, the gap to the next band and what keeps the band.",
        ),
        Table(
            "gold.service_routing",
            S.GOLD_SERVICE_ROUTING,
            ("month",),
            "score",
            "Per member and month: the customer-service queue of the credit level.",
        ),
        Table(
            "gold.apass_candidates",
            S.GOLD_APASS_CANDIDATES,
            ("month",),
            "select",
            "Per month every member at score >= 2500: the APASS gates and the selector's indicators.",
        ),
        Table(
            "gold.apass_selection",
            S.GOLD_APASS_SELECTION,
            ("month",),
            "select",
            "Per month every candidate and every overridden member: the model's score, rank, decision and "
            "reason codes.",
        ),
        Table(
            "gold.apass_members",
            S.GOLD_APASS_MEMBERS,
            ("month",),
            "select",
            "Per month every APASS member and every membership that ended then: since when, how they joined, "
            "the membership year, its renewal and the status.",
        ),
        Table(
            "gold.apass_profile",
            S.GOLD_APASS_PROFILE,
            ("month",),
            "select",
            "Per month the invited members' figures beside the published APASS profile.",
        ),
        Table(
            "gold.apass_renewals",
            S.GOLD_APASS_RENEWALS,
            ("expiry_year",),
            "renew",
            "Per expiry year every APASS membership year ending then: A-energy points, the pass mark, the "
            "warning list.",
        ),
        Table(
            "gold.personas",
            S.GOLD_PERSONAS,
            ("month",),
            "personas",
            "Per month every member of the persona population: the KMeans segment and its persona.",
        ),
        Table(
            "gold.persona_profiles",
            S.GOLD_PERSONA_PROFILES,
            ("month",),
            "personas",
            "Per month and persona: each attribute against the rest of the population, with its test.",
        ),
        Table(
            "ops.gold_log",
            S.OPS_GOLD_LOG,
            (),
            "aggregate",
            "Append-only: one row each time a gold table is computed for a month; with ops.reconciliation it "
            "decides what aggregate and score must redo.",
        ),
        Table(
            "ops.stability",
            S.OPS_STABILITY,
            (),
            "score",
            "Per month and metric: the population stability index against the month before.",
        ),
        Table(
            "ops.quality_results",
            S.OPS_QUALITY_RESULTS,
            (),
            "run",
            "Append-only: one row per check per validation, from every stage.",
        ),
        Table(
            "ops.apass_overrides",
            S.OPS_APASS_OVERRIDES,
            (),
            "override",
            "The audit log of APASS overrides; the latest override of a member and month wins.",
        ),
        Table(
            "ops.forgotten",
            S.OPS_FORGOTTEN,
            (),
            "forget",
            "Members deleted on request: per table, the rows deleted and the version after, by a keyed hash of "
            "the member id (append-only). Ingest drops the rows of these members from every file it loads.",
        ),
        Table(
            "ops.audit",
            S.OPS_AUDIT,
            (),
            "rollback",
            "Every Delta RESTORE of a published table: who, why, from which version to which (append-only).",
        ),
    ]
}

# The silver tables conform publishes valid rows to (a source's target), quarantine aside.
CONFORMED = tuple(name for name, t in CATALOG.items() if t.layer == "silver" and name != "silver.quarantine")

BRONZE_PARTITION = "_ingest_month"


def bronze(source: str, schema: T.StructType) -> Table:
    """The bronze table of a source: its fields as sent plus the lineage columns (``schema``)."""
    return Table(
        f"bronze.{source}",
        schema,
        (BRONZE_PARTITION,),
        "ingest",
        f"The {source} feed as landed: every field as sent, with the file, batch and load of each row.",
        properties=NO_COLUMN_STATISTICS,
    )


def properties_of(name: str) -> tuple[tuple[str, str], ...]:
    """The Delta properties the catalogue creates table ``name`` with (a bronze table's too); () for others."""
    if name.startswith("bronze."):
        return bronze(name.removeprefix("bronze."), T.StructType()).properties  # the same for every source
    return CATALOG[name].properties if name in CATALOG else ()


def table(name: str) -> Table:
    """The catalogue's entry for ``name`` (layer.table); KeyError names the tables it has."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"{name} is not in the table catalogue ({', '.join(sorted(CATALOG))})") from None


def producer(name: str) -> str:
    """The stage that publishes ``name`` (bronze tables: ingest)."""
    if name.startswith("bronze."):
        return "ingest"
    return CATALOG[name].producer if name in CATALOG else "run"
