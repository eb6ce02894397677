"""List the APASS selector's registered versions: aliases, training month, holdout metrics, promotion decision."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from pyspark.sql import SparkSession

from jobs import model_registry
from jobs.runtime.config import Config

DESCRIPTION = __doc__
NEEDS_SPARK = False
READ_ONLY = True  # lists the registry: no write lock (jobs/runtime/lock.py)
COLUMNS = (
    ("holdout_auc", "AUC"),
    ("holdout_average_precision", "AP"),
    ("holdout_precision_at_k", "kept@k"),
    ("holdout_adversary_share", "adv@k"),
    ("baseline_adversary_share", "base adv@k"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    del spark, args
    client = model_registry.connect(config)
    name = config.apass.selector.registered_model
    found = model_registry.versions(client, name) if client.search_registered_models(f"name = '{name}'") else []
    print(versions_table(name, found, model_registry.tracking_uri(config)))


def versions_table(name: str, found: list[model_registry.Version], uri: str) -> str:
    if not found:
        return f"{name}: no versions in {uri} (run `taoqi train`)"
    lines = [
        f"{name} in {uri}",
        f"{'version':>7}  {'aliases':<20} {'month':<8} {'registered':<17}"
        + "".join(f" {label:>10}" for _, label in COLUMNS),
    ]
    for v in found:
        when = datetime.fromtimestamp(v.created / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        cells = "".join(f" {v.metrics[k]:>10.3f}" if k in v.metrics else f" {'-':>10}" for k, _ in COLUMNS)
        lines.append(f"{v.version:>7}  {','.join(v.aliases) or '-':<20} {v.month or '-':<8} {when:<17}{cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["models", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
