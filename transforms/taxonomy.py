"""The ecosystem's top-level category taxonomy, shared by the generator and the conformers.

Each category has a stable numeric id (Taobao sends it as ``cat_id`` offset by
``TAOBAO_CAT_OFFSET``; Tmall sends the upper-case code), a group (what the
persona and selector features aggregate on), a kind (what the score's cap
table is keyed by: ``physical``, ``virtual`` for top-ups, tickets and travel,
``food_delivery`` for meals and errands brought to the door) and a relative
price level that scales a member's typical order value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    id: int
    code: str
    group: str
    kind: str  # one of KINDS: the row of the score's cap table (scoring.caps.by_kind) its orders take
    price_level: float


TAOBAO_CAT_OFFSET = 50_000_000

# Groups used by the generator's category_mix and later by features:
#   everyday, luxury, hobby, family, jewelry, office, topup, travel, tickets, whale, food_delivery
_ROWS = [
    # everyday goods: the long tail of 35 categories that gives breadth (a published shopaholic bought
    # in 51 top-level categories in a year)
    ("apparel_women", "everyday", 1.0),
    ("apparel_men", "everyday", 1.0),
    ("shoes", "everyday", 1.2),
    ("underwear", "everyday", 0.5),
    ("bags_mass", "everyday", 0.9),
    ("beauty", "everyday", 1.0),
    ("personal_care", "everyday", 0.5),
    ("snacks", "everyday", 0.3),
    ("beverages", "everyday", 0.3),
    ("phones", "everyday", 4.0),
    ("computers", "everyday", 5.0),
    ("digital_accessories", "everyday", 0.6),
    ("appliances_large", "everyday", 4.0),
    ("appliances_small", "everyday", 1.2),
    ("books", "everyday", 0.4),
    ("sports", "everyday", 1.2),
    ("outdoor", "everyday", 1.3),
    ("pet", "everyday", 0.6),
    ("toys", "everyday", 0.7),
    ("health", "everyday", 0.8),
    ("furniture", "everyday", 3.0),
    ("bedding", "everyday", 1.0),
    ("stationery", "everyday", 0.3),
    ("music_instruments", "everyday", 2.0),
    ("fitness", "everyday", 1.5),
    ("auto_care", "everyday", 0.8),
    ("eyewear", "everyday", 1.0),
    ("watches_mass", "everyday", 1.5),
    ("cleaning", "everyday", 0.4),
    ("lighting", "everyday", 0.8),
    ("tools", "everyday", 0.9),
    ("textiles", "everyday", 0.7),
    ("mother_care", "everyday", 0.8),
    ("sexual_health", "everyday", 0.5),
    ("second_hand", "everyday", 1.0),
    # luxury and designer brands
    ("luxury_bags", "luxury", 8.0),
    ("luxury_watches", "luxury", 12.0),
    ("designer_apparel", "luxury", 5.0),
    ("luxury_cosmetics", "luxury", 2.5),
    # hobbies (published for APASS members and personas: collecting, gardening, photography, travel,
    # car modification, wine)
    ("collectibles", "hobby", 3.0),
    ("gardening", "hobby", 1.2),
    ("photography", "hobby", 5.0),
    ("car_parts", "hobby", 3.0),
    ("wine_spirits", "hobby", 2.5),
    ("tea", "hobby", 1.5),
    # family categories
    ("kitchen", "family", 1.0),
    ("groceries", "family", 0.4),
    ("home_decor", "family", 1.2),
    ("baby", "family", 0.8),
    # jewelry and jade
    ("jewelry", "jewelry", 6.0),
    ("jade", "jewelry", 8.0),
    # office and business supplies
    ("office_supplies", "office", 1.0),
    ("office_equipment", "office", 3.0),
    # virtual goods
    ("mobile_topup", "topup", 0.3),
    ("game_topup", "topup", 0.4),
    ("travel_flight", "travel", 3.0),
    ("travel_hotel", "travel", 2.0),
    ("travel_train", "travel", 0.6),
    ("travel_package", "travel", 6.0),
    ("cinema", "tickets", 0.15),
    ("shows", "tickets", 0.8),
    # one-off whale purchases (a car or a flat bought online)
    ("automobile", "whale", 1.0),
    ("real_estate", "whale", 1.0),
    # food delivery (Ele.me): meals from restaurants, groceries and medicine brought to the door
    ("meal_delivery", "food_delivery", 1.0),
    ("grocery_delivery", "food_delivery", 1.6),
    ("pharmacy_delivery", "food_delivery", 1.3),
]

# A category's kind follows its group; every other group is physical goods.
_KIND_OF_GROUP = {"topup": "virtual", "travel": "virtual", "tickets": "virtual", "food_delivery": "food_delivery"}

CATEGORIES: tuple[Category, ...] = tuple(
    Category(id=i + 1, code=code, group=group, kind=_KIND_OF_GROUP.get(group, "physical"), price_level=level)
    for i, (code, group, level) in enumerate(_ROWS)
)

BY_CODE = {c.code: c for c in CATEGORIES}
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(c.group for c in CATEGORIES))
# The kinds of goods, in first-seen order: physical, virtual, food_delivery.
KINDS: tuple[str, ...] = tuple(dict.fromkeys(c.kind for c in CATEGORIES))

# Groups a member's shopping on Taobao/Tmall is drawn from; travel and tickets
# come from Fliggy and Taopiaopiao, whale purchases from the whale rule.
MARKETPLACE_GROUPS: tuple[str, ...] = ("everyday", "luxury", "hobby", "family", "jewelry", "office", "topup")


def codes_in(group: str) -> list[str]:
    """Category codes of one group, in id order."""
    return [c.code for c in CATEGORIES if c.group == group]
