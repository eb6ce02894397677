"""Account registry: JSON lines, one record per account; the reference the other sources' users are checked against."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.bronze.raw_schemas import ACCOUNTS
from transforms.schemas import SILVER_ACCOUNTS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "accounts"
REQUIRED = ("uid", "reg_date", "gender", "updated_at")
GENDERS = ("M", "F", "U")
MIN_BIRTH_YEAR = 1900


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.accounts row plus its reason (null when valid).

    ``params`` is unused (accounts carry no amounts) but kept for the common conformer signature.
    """
    updated_at = common.parse_local_time("updated_at", "yyyy-MM-dd HH:mm:ss")
    birth_year = common.parse_int("birth_year")
    city_tier = common.parse_int("city_tier")
    verified = common.lookup(common.TRUE_FALSE, "id_verified")
    mobile_share = common.parse_double("mobile_share")
    # Optional fields may be absent, but when sent they must make sense: nobody is born
    # after their record was written, tiers are 1..5, a share is within 0..1 (NaN is not).
    bad_optional = (
        common.present_but_invalid("birth_year", birth_year.between(F.lit(MIN_BIRTH_YEAR), F.year(updated_at)))
        | common.present_but_invalid("city_tier", city_tier.between(1, 5))
        | common.present_but_invalid("id_verified", verified.isNotNull())
        | common.present_but_invalid("mobile_share", mobile_share.between(0.0, 1.0) & ~F.isnan(mobile_share))
    )
    typed = bronze.select(
        common.parse_long("uid").alias("user_id"),
        F.try_to_date(F.col("reg_date"), "yyyy-MM-dd").alias("registered_date"),
        F.when(F.col("gender").isin(*GENDERS), F.col("gender")).alias("gender"),
        birth_year.alias("birth_year"),
        city_tier.alias("city_tier"),
        # An account whose identity check is not reported is not verified.
        F.coalesce(verified, F.lit(False)).alias("identity_verified"),
        mobile_share.alias("mobile_share"),
        updated_at.alias("updated_at"),
        common.any_blank(*REQUIRED).alias("_missing"),
        bad_optional.alias("_bad_optional"),
        *common.bronze_carry(NAME, ACCOUNTS),
    )
    invalid = F.col("user_id").isNull() | F.col("gender").isNull() | F.col("_bad_optional")
    bad_time = F.col("registered_date").isNull() | F.col("updated_at").isNull()
    return common.with_reason(typed, SILVER_ACCOUNTS, invalid=invalid, bad_time=bad_time)


SOURCE = SourceSpec(
    name=NAME,
    format="json",
    file_suffix=".json",
    raw_schema=ACCOUNTS,
    target="accounts",
    natural_key=("user_id",),
    event_time_checked=False,
    user_checked=False,
    member_field="uid",
    conform=conform,
)
