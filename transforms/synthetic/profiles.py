"""Typed settings of the generator's world: segment profiles and dirt rates (values from conf/)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentProfile:
    """Behaviour of one population segment of the synthetic world (docs/generator.md#members)."""

    kind: str  # mass | persona | adversary
    share: float
    orders_per_month: float
    activity_sigma: float
    active_month_prob: float
    aov_cny: float
    user_aov_sigma: float
    order_aov_sigma: float
    quantity_mean: float
    platform_mix: dict[str, float]
    category_mix: dict[str, float]
    group_buy_share: float
    overseas_share: float
    mobile_share: float
    company_invoice_share: float
    interactions_per_month: float
    interaction_mix: dict[str, float]
    review_positive_rate: float
    seller_chats_per_month: float
    seller_pool: int
    refund_rate: float
    return_rate: float
    dispute_rate: float
    fake_order_share: float
    whale_order_cny: float
    male_share: float
    birth_year_mean: float
    birth_year_sd: float
    city_tier_mix: dict[str, float]
    identity_verified_rate: float
    account_age_years: float
    peak_hour: float
    hour_spread: float
    cabin_mix: dict[str, float]
    hotel_star_mean: float
    elite_share: float
    elite_multiplier: float


@dataclass(frozen=True)
class DirtConf:
    """Rates of each kind of dirt a real feed sends (share of rows, or of files for file replays)."""

    row_replay_rate: float
    file_replay_rate: float
    missing_required_rate: float
    bad_amount_rate: float
    unknown_user_rate: float
    bad_timestamp_rate: float
    out_of_window_rate: float
    bad_currency_rate: float
    malformed_line_rate: float


@dataclass(frozen=True)
class FoodDeliveryConf:
    """Ele.me's food delivery orders of the world (docs/generator.md#food-delivery), on random streams of their
    own: generated only while the eleme_orders source is enabled, and every other source's rows are the same
    with them or without."""

    member_share: float  # members who order food delivery at all
    orders_per_month: float  # mean over those members of a month they order in; per member lognormal around it
    activity_sigma: float
    active_month_prob: float  # a member orders in a month with this probability
    aov_cny: float  # median order value before the category's price level and the member's own price level
    order_aov_sigma: float
    mobile_share: float  # orders from the app or the Alipay mini program; the rest from the website
    category_mix: dict[str, float]  # food delivery categories of the taxonomy -> weight
    shops: int  # restaurants and stores that deliver
