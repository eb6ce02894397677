"""The one config loader: YAML base + overlays + ``--set key=value`` into one typed object.

Every setting has exactly one default, in ``conf/base.yaml`` (the score's in
``conf/scoring.yaml``, under the key ``scoring``); the dataclasses
below only give the settings their types. Unknown keys, missing keys and
values of the wrong type are user mistakes and raise :class:`ConfigError`.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import re
import types
import typing
import zoneinfo
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from expectations.params import QualityConf
from expectations.params import problems as quality_problems
from jobs.runtime.errors import UserError
from transforms.apass.params import ApassConf
from transforms.apass.params import problems as apass_problems
from transforms.gold.params import ScoringConf
from transforms.gold.params import problems as scoring_problems
from transforms.months import month_range
from transforms.personas.params import PersonasConf, ReportConf
from transforms.personas.params import problems as personas_problems
from transforms.synthetic.apass_history import HIDDEN_CLASSES, ApassHistoryConf
from transforms.synthetic.profiles import DirtConf, FoodDeliveryConf, SegmentProfile
from transforms.taxonomy import codes_in

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PACKAGED_OVERLAYS = ("local", "cluster", "databricks")


class ConfigError(UserError):
    """A setting is missing, unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class LakehouseConf:
    root: str
    # Months of history every table keeps for time travel and rollback: its log and the files its
    # versions read (Delta table properties at creation; `taoqi maintain` vacuums with them).
    history_months: int
    # Tables by name: <catalog>.<schema_prefix><layer>.<table> (tables.table_name); the catalog is spark_catalog
    # locally (names for the session: tables.register), a Unity Catalog catalog on Databricks.
    catalog: str
    schema_prefix: str
    # Tag member id columns as personal data where the catalog keeps column tags (Unity Catalog).
    tag_member_ids: bool

    @property
    def history_days(self) -> int:
        """history_months as the days of Delta's retention intervals (31 a month: never less)."""
        return 31 * self.history_months


@dataclass(frozen=True)
class SparkConf:
    master: str | None
    app_name: str
    session_time_zone: str
    shuffle_partitions: int
    shuffle_input_bytes_per_partition: int
    delta_jars_from_maven: bool
    extra: dict[str, str]


@dataclass(frozen=True)
class SkewConf:
    """A skewed world (docs/generator.md#a-skewed-world): a few users and sellers with ``factor`` x the median
    volume."""

    heavy_users: int  # users given factor x the median user's orders and interactions (0: off)
    heavy_user_segment: str  # the segment those users belong to (a brushing farm by default)
    heavy_sellers: int  # Taobao/Tmall shops given factor x the median seller's orders (0: off)
    factor: float


@dataclass(frozen=True)
class GeneratorConf:
    users: int
    seed: int
    start_month: str
    months: int
    rows_per_file: int
    late_event_rate: float
    risk_flag_rate: float
    risk_false_positive_rate: float
    seasonality: dict[str, float]
    sellers: dict[str, int]
    dirt: DirtConf
    apass_history: ApassHistoryConf
    segments: dict[str, SegmentProfile]
    skew: SkewConf
    food_delivery: FoodDeliveryConf


@dataclass(frozen=True)
class SourceConf:
    conformer: str  # module path of the conformer; docs/contributing.md#adding-a-source
    enabled: bool


@dataclass(frozen=True)
class ConformConf:
    late_tolerance_months: int
    max_order_amount_cny: float
    fx_to_cny: dict[str, float]


@dataclass(frozen=True)
class MlflowConf:
    tracking_uri: str | None  # None: sqlite under a local lakehouse root
    registry_uri: str | None  # None: the tracking store's own registry
    name_prefix: str | None  # applied by load_config to the model and experiment names (with_name_prefix)


@dataclass(frozen=True)
class PrivacyConf:
    # where the key of member pseudonyms comes from: env:NAME, file:PATH, secret:SCOPE/KEY or lakehouse
    # (docs/operations.md#member-pseudonyms)
    pseudonym_key: str
    purge_after_hours: float  # `taoqi forget --purge`: VACUUM keeps this much history (deleted rows live in it)


@dataclass(frozen=True)
class Config:
    lakehouse: LakehouseConf
    spark: SparkConf
    generator: GeneratorConf
    sources: dict[str, SourceConf]
    conform: ConformConf
    quality: QualityConf
    scoring: ScoringConf
    apass: ApassConf
    personas: PersonasConf
    report: ReportConf
    privacy: PrivacyConf
    mlflow: MlflowConf

    def table_path(self, layer: str, table: str) -> str:
        """Location of a path-based Delta table: ``<root>/<layer>/<table>``."""
        if layer not in ("bronze", "silver", "gold", "ops"):
            raise ValueError(f"unknown layer {layer!r}")
        return f"{self.lakehouse.root.rstrip('/')}/{layer}/{table}"

    def landing_path(self, source: str) -> str:
        return f"{self.lakehouse.root.rstrip('/')}/landing/{source}"

    def truth_path(self, name: str) -> str:
        return f"{self.lakehouse.root.rstrip('/')}/truth/{name}"

    def reports_dir(self, month: str) -> str:
        """The local directory of a month's run report, run manifest and Data Docs."""
        root, local = self.quality.reports_root, self.local_root()
        if root is None:
            root = os.path.join(local, "reports") if local is not None else "reports"
        return os.path.join(root, month)

    def reports_publish_root(self) -> str | None:
        """Where a remote lakehouse keeps a copy of the reports: ``<root>/reports`` (one directory a month).

        None when the reports are already there (a local root) or when
        ``quality.reports_root`` chose their place.
        """
        if self.quality.reports_root is not None or self.local_root() is not None:
            return None
        return f"{self.lakehouse.root.rstrip('/')}/reports"

    def local_root(self) -> str | None:
        """``lakehouse.root`` as a local path, or None for a remote root (s3a:, abfss:, dbfs:, hdfs: ...)."""
        parsed = urlparse(self.lakehouse.root)
        if parsed.scheme in ("", "file"):
            return parsed.path if parsed.scheme else self.lakehouse.root
        return None

    def enabled_sources(self) -> list[str]:
        return [name for name, source in self.sources.items() if source.enabled]

    def generator_months(self) -> list[str]:
        """The calendar months the generator covers, oldest first."""
        return month_range(self.generator.start_month, self.generator.months)

    def fingerprint(self) -> str:
        """Short stable hash of the whole config, for run manifests."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def check_month(value: str) -> str:
    """Validate a ``YYYY-MM`` month argument."""
    if not MONTH_RE.match(value or ""):
        raise ConfigError(f"month must be YYYY-MM (for example 2025-06), got {value!r}")
    return value


# --------------------------------------------------------------------------- loading


def load_config(overlays: list[str] | None = None, sets: list[str] | None = None) -> Config:
    """Build the config: packaged ``base.yaml`` and ``scoring.yaml``, then each overlay in order, then ``--set`` pairs.

    An overlay is a YAML path or the bare name of a packaged overlay
    (``local``, ``cluster``, ``databricks``). With no overlay, ``local`` applies.
    """
    data = _read_yaml(_packaged("base"), "base.yaml")
    data["scoring"] = _read_yaml(_packaged("scoring"), "scoring.yaml")
    for overlay in overlays if overlays else ["local"]:
        data = _deep_merge(data, _read_yaml(_resolve_overlay(overlay), overlay))
    for pair in sets or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes key=value (for example generator.users=20000), got {pair!r}")
        _set_dotted(data, key.strip(), raw)
    config = with_name_prefix(_build(Config, data, ""))
    validate(config)
    return config


def with_name_prefix(config: Config) -> Config:
    """``mlflow.name_prefix`` before the last part of every registered model and experiment name: a model
    ``main.taoqi.apass_selector`` becomes ``main.taoqi.dev_me_apass_selector``, an experiment
    ``/Shared/taoqi/apass_selector`` becomes ``/Shared/taoqi/dev_me_apass_selector``."""
    prefix = config.mlflow.name_prefix
    if not prefix:
        return config

    def prefixed(name: str, separator: str) -> str:
        head, sep, last = name.rpartition(separator)
        return f"{head}{sep}{prefix}{last}"

    selector, personas = config.apass.selector, config.personas
    return dataclasses.replace(
        config,
        apass=dataclasses.replace(
            config.apass,
            selector=dataclasses.replace(
                selector,
                registered_model=prefixed(selector.registered_model, "."),
                experiment=prefixed(selector.experiment, "/"),
            ),
        ),
        personas=dataclasses.replace(
            personas,
            registered_model=prefixed(personas.registered_model, "."),
            experiment=prefixed(personas.experiment, "/"),
        ),
    )


def _packaged(name: str):
    return resources.files("jobs").joinpath("conf", f"{name}.yaml")


def _resolve_overlay(overlay: str):
    if overlay in PACKAGED_OVERLAYS:
        return _packaged(overlay)
    path = Path(overlay)
    if not path.is_file():
        raise ConfigError(
            f"config overlay {overlay!r} not found: give a YAML path or one of {', '.join(PACKAGED_OVERLAYS)}"
        )
    return path


def _read_yaml(source, label: str) -> dict:
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{label}: not valid YAML ({err.__class__.__name__}: {err})") from None
    except (OSError, UnicodeDecodeError) as err:  # unreadable: permissions, a directory, not text
        raise ConfigError(f"{label}: cannot be read ({err.__class__.__name__}: {err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: the top level must be a mapping of settings")
    # YAML anchors used only to share blocks live under keys starting with '.'
    return {k: v for k, v in data.items() if not str(k).startswith(".")}


def _deep_merge(base: dict, overlay: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _set_dotted(data: dict, key: str, raw: str) -> None:
    """Set ``key`` (dotted) to ``raw`` (YAML; a text setting takes it verbatim) in the raw settings.

    Under a mapping of plain values the rest of the key is one key:
    ``spark.extra`` maps Spark's own keys, which contain dots, so ``--set
    spark.extra.spark.sql.adaptive.enabled=false`` sets the key
    ``spark.sql.adaptive.enabled`` to the text "false" and keeps the other entries.
    """
    node, cls = data, Config
    parts = key.split(".")
    while len(parts) > 1:
        part = parts.pop(0)
        if not isinstance(node.get(part), dict):
            raise ConfigError(f"--set {key}: {part!r} is not a group of settings")
        node, cls = node[part], _field_type(cls, part)
        if _is_plain_mapping(cls):
            parts = [".".join(parts)]
    is_text = _field_type(cls, parts[0]) is str
    if not raw.strip():
        node[parts[0]] = None  # an empty value unsets: an error for a required setting
    else:
        node[parts[0]] = raw.strip() if is_text else yaml.safe_load(raw)


def _field_type(cls: Any, name: str) -> Any:
    """The declared type of setting ``name`` in ``cls`` (a dataclass or a mapping); None when unknown."""
    if dataclasses.is_dataclass(cls):
        return typing.get_type_hints(cls).get(name)
    if typing.get_origin(cls) is dict:
        return typing.get_args(cls)[1]
    return None


def _is_plain_mapping(cls: Any) -> bool:
    """A ``dict[str, X]`` whose values are not groups of settings: its keys are free text."""
    if typing.get_origin(cls) is not dict:
        return False
    value_type = typing.get_args(cls)[1]
    return not dataclasses.is_dataclass(value_type) and typing.get_origin(value_type) is not dict


def _build(cls: Any, value: Any, where: str) -> Any:
    """Turn plain YAML data into the typed dataclass tree, naming the key on any mismatch."""
    label = where or "config"
    origin = typing.get_origin(cls)
    if dataclasses.is_dataclass(cls):
        if not isinstance(value, dict):
            raise ConfigError(f"{label}: expected a mapping of settings, got {value!r}")
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ConfigError(f"unknown setting {_join(where, unknown[0])} (known: {', '.join(names)})")
        missing = [n for n in names if n not in value]
        if missing:
            raise ConfigError(f"missing setting {_join(where, missing[0])}")
        return cls(**{n: _build(hints[n], value[n], _join(where, n)) for n in names})
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(cls)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _build(inner, value, where)
    if origin is dict:
        _key_type, value_type = typing.get_args(cls)
        if not isinstance(value, dict):
            raise ConfigError(f"{label}: expected a mapping, got {value!r}")
        return {str(k): _build(value_type, v, _join(where, str(k))) for k, v in value.items()}
    if origin is list:
        (item_type,) = typing.get_args(cls)
        if not isinstance(value, list):
            raise ConfigError(f"{label}: expected a list, got {value!r}")
        return [_build(item_type, v, f"{label}[{i}]") for i, v in enumerate(value)]
    if cls is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if cls is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, cls) and not (cls is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{label}: expected {cls.__name__}, got {value!r}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


# --------------------------------------------------------------------------- validation


def validate(config: Config) -> None:
    """Range checks the types alone cannot express."""
    if config.lakehouse.history_months < 1:
        raise ConfigError(
            f"lakehouse.history_months must be at least 1 (a month's run reads the month before it), "
            f"got {config.lakehouse.history_months}"
        )
    for setting in ("catalog", "schema_prefix"):
        value = getattr(config.lakehouse, setting)
        if not IDENTIFIER_RE.match(value) and not (setting == "schema_prefix" and value == ""):
            raise ConfigError(
                f"lakehouse.{setting} must be letters, digits and underscores (a SQL name), got {value!r}"
            )
    gen = config.generator
    check_month(gen.start_month)
    if gen.users < 1:
        raise ConfigError(f"generator.users must be at least 1, got {gen.users}")
    if not 1 <= gen.months <= 120:
        raise ConfigError(f"generator.months must be between 1 and 120, got {gen.months}")
    if gen.rows_per_file < 1000:
        raise ConfigError(f"generator.rows_per_file must be at least 1000, got {gen.rows_per_file}")
    total = sum(s.share for s in gen.segments.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"generator.segments shares must sum to 1, they sum to {total:.6f}")
    for name, seg in gen.segments.items():
        where = f"generator.segments.{name}"
        if seg.kind not in ("mass", "persona", "adversary"):
            raise ConfigError(f"{where}.kind must be mass, persona or adversary, got {seg.kind!r}")
        for field in (
            "share",
            "active_month_prob",
            "group_buy_share",
            "overseas_share",
            "mobile_share",
            "company_invoice_share",
            "review_positive_rate",
            "refund_rate",
            "return_rate",
            "dispute_rate",
            "fake_order_share",
            "male_share",
            "identity_verified_rate",
            "elite_share",
        ):
            value = getattr(seg, field)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{where}.{field} must be between 0 and 1, got {value}")
        for mix in ("platform_mix", "category_mix", "interaction_mix", "city_tier_mix", "cabin_mix"):
            weights = getattr(seg, mix)
            if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                raise ConfigError(f"{where}.{mix} needs non-negative weights with a positive sum")
    for name, rate in dataclasses.asdict(gen.dirt).items():
        if not 0.0 <= rate <= 0.5:
            raise ConfigError(f"generator.dirt.{name} must be between 0 and 0.5, got {rate}")
    history = gen.apass_history
    for name, rates in (("invite_rate", history.invite_rate), ("kept_rate", history.kept_rate)):
        if set(rates) != set(HIDDEN_CLASSES):
            raise ConfigError(f"generator.apass_history.{name} needs exactly {', '.join(HIDDEN_CLASSES)}")
        for cls, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"generator.apass_history.{name}.{cls} must be between 0 and 1, got {rate}")
    if not 0.0 <= history.reason_accuracy <= 1.0:
        raise ConfigError(
            f"generator.apass_history.reason_accuracy must be between 0 and 1, got {history.reason_accuracy}"
        )
    if not 0.0 <= history.member_share <= 0.01:
        raise ConfigError(
            f"generator.apass_history.member_share must be between 0 and 0.01, got {history.member_share}"
        )
    skew = gen.skew
    if not 0 <= skew.heavy_users <= gen.users:
        raise ConfigError(f"generator.skew.heavy_users must be between 0 and generator.users, got {skew.heavy_users}")
    if skew.heavy_sellers < 0:
        raise ConfigError(f"generator.skew.heavy_sellers must be at least 0, got {skew.heavy_sellers}")
    if skew.factor < 1:
        raise ConfigError(f"generator.skew.factor must be at least 1, got {skew.factor}")
    if skew.heavy_users and skew.heavy_user_segment not in gen.segments:
        raise ConfigError(
            f"generator.skew.heavy_user_segment must be one of generator.segments "
            f"({', '.join(gen.segments)}), got {skew.heavy_user_segment!r}"
        )
    food = gen.food_delivery
    for name in ("member_share", "active_month_prob", "mobile_share"):
        if not 0.0 <= getattr(food, name) <= 1.0:
            raise ConfigError(f"generator.food_delivery.{name} must be between 0 and 1, got {getattr(food, name)}")
    for name in ("orders_per_month", "aov_cny", "shops"):
        if getattr(food, name) <= 0:
            raise ConfigError(f"generator.food_delivery.{name} must be positive, got {getattr(food, name)}")
    for name in ("activity_sigma", "order_aov_sigma"):
        if not 0.0 <= getattr(food, name) <= 3.0:
            raise ConfigError(f"generator.food_delivery.{name} must be between 0 and 3, got {getattr(food, name)}")
    food_codes = codes_in("food_delivery")
    weights = food.category_mix
    if not set(weights) <= set(food_codes) or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ConfigError(
            f"generator.food_delivery.category_mix needs non-negative weights with a positive sum over the "
            f"food delivery categories ({', '.join(food_codes)}), got {weights}"
        )
    if config.conform.late_tolerance_months < 0:
        raise ConfigError("conform.late_tolerance_months must be >= 0")
    if "CNY" not in config.conform.fx_to_cny:
        raise ConfigError("conform.fx_to_cny must contain CNY")
    for code, rate in config.conform.fx_to_cny.items():
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigError(f"conform.fx_to_cny.{code} must be a positive number of CNY, got {rate}")
    if config.spark.shuffle_partitions < 1:
        raise ConfigError(f"spark.shuffle_partitions must be at least 1, got {config.spark.shuffle_partitions}")
    if config.spark.shuffle_input_bytes_per_partition < 0:
        per_partition = config.spark.shuffle_input_bytes_per_partition
        raise ConfigError(
            f"spark.shuffle_input_bytes_per_partition must be 0 for off or a count of bytes, got {per_partition}"
        )
    try:
        zoneinfo.ZoneInfo(config.spark.session_time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = config.spark.session_time_zone
        raise ConfigError(f"spark.session_time_zone must be a time zone name (Asia/Shanghai), got {zone!r}") from None
    wrong_quality = quality_problems(config.quality)
    if wrong_quality:
        raise ConfigError(f"quality.{wrong_quality[0]}")
    wrong = scoring_problems(config.scoring)
    if wrong:
        raise ConfigError(f"scoring.{wrong[0]} (conf/scoring.yaml)")
    wrong_apass = apass_problems(config.apass)
    if wrong_apass:
        raise ConfigError(f"apass.{wrong_apass[0]}")
    wrong_personas = personas_problems(config.personas)
    if wrong_personas:
        raise ConfigError(f"personas.{wrong_personas[0]}")
    source = config.privacy.pseudonym_key
    kind, _, where = source.partition(":")
    if source != "lakehouse" and (kind not in ("env", "file", "secret") or not where.strip()):
        raise ConfigError(
            f"privacy.pseudonym_key must be env:NAME, file:PATH, secret:SCOPE/KEY or lakehouse, got {source!r}"
        )
    if not (math.isfinite(config.privacy.purge_after_hours) and config.privacy.purge_after_hours >= 0):
        raise ConfigError(f"privacy.purge_after_hours must be 0 or more hours, got {config.privacy.purge_after_hours}")
    if kind == "secret" and where.count("/") != 1:
        raise ConfigError(f"privacy.pseudonym_key secret:SCOPE/KEY names a scope and a key, got {source!r}")
