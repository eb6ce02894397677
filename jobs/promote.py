"""Promote the APASS selector's challenger to champion if it beats the champion on the same holdout.

Both versions score the holdout the challenger was trained with (its
review months, logged with its run); the challenger becomes `champion`
only if its apass.selector.promotion_metric beats the champion's by
apass.selector.promotion_margin. Otherwise it stays `challenger`, and the
reason is tagged on the version and printed. With no champion yet, the
challenger is promoted.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark.sql import SparkSession

from jobs import apass_inputs, model_registry
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
NEEDS_SPARK = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no arguments of its own: it compares the two aliased versions


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    del spark, args  # MLflow only
    _promoted, reason = promote(config)
    print(reason)


def holdout_metric(config: Config, booster, holdout, metric: str, invite_share: float) -> float:
    """``metric`` of ``booster`` on ``holdout``, inviting ``invite_share`` of the gated rows (its training month's)."""
    from transforms.apass.selector import evaluate, predict

    missing = [f for f in booster.feature_name() if f not in holdout.columns]
    if missing:
        raise UserError(
            f"the holdout lacks feature(s) {', '.join(missing[:3])} the model needs: "
            "the two versions were trained on different indicator catalogues"
        )
    metrics = evaluate(
        holdout,
        probabilities=predict(booster, holdout),
        gates=apass_inputs.gates(config),
        invite_share=invite_share,
    )
    return float(metrics.get(metric, float("nan")))


def promote(config: Config) -> tuple[bool, str]:
    """Decide on the challenger; returns (promoted, the reason, as printed and tagged on the version)."""
    import mlflow
    import pandas as pd

    client = model_registry.connect(config)
    s = config.apass.selector
    name = s.registered_model
    challenger = model_registry.version_by_alias(client, name, model_registry.CHALLENGER)
    if challenger is None:
        raise UserError(f"{name} has no @{model_registry.CHALLENGER} version: run `taoqi train` first")
    champion = model_registry.version_by_alias(client, name, model_registry.CHAMPION)
    if champion is not None and champion.version == challenger.version:
        return False, f"{name} version {challenger.version} is already the champion"
    if champion is None:
        promoted, why = True, "no champion yet"
    else:
        holdout = pd.read_parquet(
            mlflow.artifacts.download_artifacts(run_id=challenger.run_id, artifact_path=model_registry.HOLDOUT_ARTIFACT)
        )
        invite_share = float(challenger.metrics.get("invite_share", 1.0))
        new, _ = model_registry.load_booster(config, model_registry.CHALLENGER)
        old, _ = model_registry.load_booster(config, model_registry.CHAMPION)
        metric = s.promotion_metric
        new_value, old_value = (holdout_metric(config, b, holdout, metric, invite_share) for b in (new, old))
        promoted = new_value >= old_value + s.promotion_margin
        why = (
            f"{metric} {new_value:.4f} vs champion v{champion.version} {old_value:.4f} on the challenger's "
            f"holdout ({len(holdout)} reviews): {'beats' if promoted else 'does not beat'} it by the margin "
            f"{s.promotion_margin:g}"
        )
    if promoted:
        client.set_registered_model_alias(name, model_registry.CHAMPION, str(challenger.version))
        client.delete_registered_model_alias(name, model_registry.CHALLENGER)
        reason = f"promoted {name} version {challenger.version} to @{model_registry.CHAMPION}: {why}"
    else:
        reason = f"{name} version {challenger.version} stays @{model_registry.CHALLENGER}: {why}"
    client.set_model_version_tag(name, str(challenger.version), "taoqi.promotion", reason)
    log.info("%s", reason)
    return promoted, reason


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["promote", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
