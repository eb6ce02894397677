"""Train the APASS selector as of a month, log it to MLflow and register it as the challenger.

Labels are the yearly reviews of silver.apass_reviews known by batch M (kept
= 1, removed = 0), each with the member's indicators as of its review month
(gold.user_features, gold.scores, gold.user_month: point in time). The
latest apass.selector.holdout_months review months are the holdout, the
earlier ones train a monotone LightGBM model (a time-based split). The
model and the score-only baseline (gates, then the score) are judged on the
same holdout: AUC, average precision, precision among the invited and the
share of adversaries among them by type. The MLflow run holds parameters,
metrics, the feature list, the Delta versions of the inputs, the config
hash, the code version, the model with its signature and an input example,
the holdout (for promotion) and plots (feature importance, precision-recall).
The new version of apass_selector gets the alias `challenger`; `taoqi
promote` decides whether it becomes the champion.
"""

from __future__ import annotations

import argparse
import logging
import sys

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs import apass_inputs, model_registry
from jobs.runtime import gold_log, tables
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from transforms.months import add_months

log = logging.getLogger(__name__)

DESCRIPTION = __doc__


class TooFewLabelsError(UserError):
    """The reviews known by the month cannot train and judge a model (a small or young world)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--month", help="training month YYYY-MM: labels known by its batch (default: the latest scored)"
    )


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    train(spark, config, apass_inputs.scored_month(spark, config, args.month))


def labelled_frame(spark: SparkSession, config: Config, month: str) -> pd.DataFrame:
    """Labelled members with their indicators as of their review months: known by batch ``month``."""
    s = config.apass.selector
    aggregated = sorted(gold_log.computed(spark, config, apass_inputs.USER_MONTH))
    earliest = add_months(aggregated[0], s.min_history_months - 1) if aggregated else month
    reviews = (
        tables.read(spark, config, apass_inputs.REVIEWS)
        .filter((F.col("ingest_month") <= month) & F.col("event_month").between(earliest, month))
        .select(
            "user_id",
            F.col("event_month").alias("as_of_month"),
            (F.col("outcome") == "kept").cast("int").alias("label"),
            "reason",
        )
    )
    per_month = {r["as_of_month"]: r["count"] for r in reviews.groupBy("as_of_month").count().collect()}
    label_months = sorted(per_month)
    # counted before any indicator is computed: a small or young world stops here, in a second
    training = sum(per_month[m] for m in label_months[: -s.holdout_months])
    if training < s.min_training_labels:
        raise TooFewLabelsError(
            f"too few labels to train as of {month}: {training} review(s) from {earliest} (the first month with "
            f"{s.min_history_months} months of data) up to the {s.holdout_months} holdout month(s), needs "
            f"{s.min_training_labels}: train on a later month or a larger world, or lower "
            "apass.selector.min_training_labels"
        )
    scored = gold_log.computed(spark, config, apass_inputs.SCORES)
    missing = [m for m in label_months if m not in scored]
    if missing:
        raise UserError(
            f"labels of {', '.join(missing)} need the scores of those months: "
            f"run `taoqi score --month {missing[0]}` (or `taoqi run`) first"
        )
    rows = apass_inputs.indicator_rows(spark, config, reviews).join(reviews, ["user_id", "as_of_month"], "inner")
    return rows.toPandas().sort_values(["as_of_month", "user_id"], kind="mergesort").reset_index(drop=True)


def split(frame: pd.DataFrame, holdout_months: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(train, holdout, holdout months): the latest ``holdout_months`` review months are the holdout."""
    months = sorted(frame["as_of_month"].unique())
    held = months[-holdout_months:]
    is_held = frame["as_of_month"].isin(held)
    return frame[~is_held], frame[is_held], held


def train(spark: SparkSession, config: Config, month: str) -> int:
    """Fit, evaluate, log and register one selector version; returns the version number."""
    import mlflow
    import mlflow.lightgbm
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.models import infer_signature

    from transforms.apass.indicators import NAMES
    from transforms.apass.selector import evaluate, fit, predict

    s = config.apass.selector
    with timed("train", f"labels {month}") as t:
        frame = labelled_frame(spark, config, month)
        t.rows_out = len(frame)
    train_rows, holdout, held = split(frame, s.holdout_months)
    for name, part in (("training", train_rows), ("holdout", holdout)):
        if part["label"].nunique() < 2:
            raise TooFewLabelsError(
                f"the {name} reviews as of {month} ({len(part)}) are all "
                f"{'kept' if part['label'].all() else 'removed'}: a model needs both outcomes"
            )
    members, gated_now = apass_inputs.month_counts(spark, config, month)
    invitations = apass_inputs.target_stock(members, config)  # the members it would choose, were none chosen
    invite_share = min(1.0, invitations / gated_now) if gated_now else 1.0
    features = list(NAMES)
    with timed("train", f"fit {len(train_rows)} labels") as t:
        booster = fit(train_rows, features=features, params=s.lightgbm, monotone=s.monotone)
        probabilities = predict(booster, holdout)
        metrics = evaluate(
            holdout,
            probabilities=probabilities,
            gates=apass_inputs.gates(config),
            invite_share=invite_share,
        )
        t.rows_out = len(holdout)
    metrics |= {
        "training_rows": float(len(train_rows)),
        "training_kept": float(train_rows["label"].sum()),
        "capacity": float(invitations),
    }

    client = model_registry.connect(config)
    versions = apass_inputs.input_versions(spark, config)
    with timed("train", "log to MLflow"):
        mlflow.set_experiment(experiment_id=model_registry.experiment_id(config))
        with mlflow.start_run(run_name=f"apass_selector {month}") as run:
            mlflow.set_tags(
                {
                    "taoqi.month": month,
                    model_registry.LAKEHOUSE_TAG: model_registry.lakehouse_id(config),
                    "taoqi.config": config.fingerprint(),
                    "taoqi.code_version": model_registry.code_version(),
                    "taoqi.holdout_months": ",".join(held),
                    **{f"taoqi.delta_version.{t}": str(v) for t, v in versions.items()},
                }
            )
            mlflow.log_params(
                {
                    "month": month,
                    "features": len(features),
                    "holdout_months": s.holdout_months,
                    "min_history_months": s.min_history_months,
                    "min_credit_level": config.apass.min_credit_level,
                    "member_share": config.apass.member_share,
                    **{f"lgb_{k}": v for k, v in vars(s.lightgbm).items()},
                    "monotone": ",".join(f"{k}:{v}" for k, v in sorted(s.monotone.items())),
                }
            )
            mlflow.log_metrics({k: v for k, v in metrics.items() if pd.notna(v)})
            mlflow.log_dict({"features": features, "monotone": s.monotone}, "features.json")
            for name, version in versions.items():
                source = DeltaDatasetSource(path=tables.location(config, name), delta_table_version=version)
                mlflow.log_input(
                    mlflow.data.from_pandas(pd.DataFrame({"table": [name]}), source=source, name=name),
                    context="training",
                )
            with timed("train", "plots"):
                _log_plots(booster, holdout.assign(model_probability=probabilities))
            # what promotion scores again: indicators, month and label, without the member or why they were removed
            holdout_path = _write_holdout(holdout.drop(columns=list(IDENTIFYING)))
            mlflow.log_artifact(holdout_path, artifact_path="holdout")
            example = holdout[features].head(5).astype("float64")
            signature = infer_signature(example, predict(booster, example))
            with model_registry.quiet_registration():
                info = mlflow.lightgbm.log_model(
                    booster,
                    name=model_registry.MODEL_ARTIFACT,
                    signature=signature,
                    input_example=example,
                    registered_model_name=s.registered_model,
                    pip_requirements=_requirements(),
                )
    version = int(info.registered_model_version)
    client.set_registered_model_alias(s.registered_model, model_registry.CHALLENGER, str(version))
    print(metrics_table(metrics))
    print(
        f"registered {s.registered_model} version {version} as @{model_registry.CHALLENGER} "
        f"(run {run.info.run_id}, {model_registry.tracking_uri(config)})"
    )
    return version


def _requirements() -> list[str]:
    from importlib import metadata

    return [f"{p}=={metadata.version(p)}" for p in ("lightgbm", "numpy", "pandas", "mlflow")]


# Columns of the labelled frame that name a member or say why they lost the membership (resale, fraud): they
# stay out of MLflow, whose artifacts anyone with access to the experiment can download.
IDENTIFYING = ("user_id", "reason")


def _write_holdout(holdout: pd.DataFrame) -> str:
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="taoqi-holdout-")) / "holdout.parquet"
    holdout.to_parquet(path, index=False)
    return str(path)


def _log_plots(booster, holdout: pd.DataFrame) -> None:
    """Feature importance (gain) and precision-recall of the model and the baseline on the holdout."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow
    from sklearn.metrics import precision_recall_curve

    from transforms.apass.selector import importance

    top = importance(booster).head(20).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh(top["feature"], top["gain"])
    ax.set_xlabel("total gain")
    ax.set_title("APASS selector: feature importance (top 20)")
    fig.tight_layout()
    mlflow.log_figure(fig, "plots/feature_importance.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 5))
    for column, label in (("model_probability", "selector"), ("score", "score only (baseline)")):
        precision, recall, _ = precision_recall_curve(holdout["label"], holdout[column])
        ax.plot(recall, precision, label=label)
    ax.set_xlabel("recall (kept members found)")
    ax.set_ylabel("precision (share kept)")
    ax.set_title("holdout precision-recall")
    ax.legend()
    fig.tight_layout()
    mlflow.log_figure(fig, "plots/precision_recall.png")
    plt.close(fig)


def metrics_table(metrics: dict[str, float]) -> str:
    """The selector beside the score-only baseline, on the holdout."""
    names = [
        ("auc", "AUC"),
        ("average_precision", "average precision"),
        ("invited", "invited (holdout)"),
        ("precision_at_k", "kept among the invited"),
        ("adversary_share", "adversaries among the invited"),
    ]
    lines = [
        f"holdout: {int(metrics['holdout_rows'])} reviews ({int(metrics['holdout_kept'])} kept), "
        f"{int(metrics['holdout_gated'])} past the gates; invited share {metrics['invite_share']:.1%}",
        f"{'metric':<32} {'selector':>10} {'baseline':>10}",
    ]
    for key, label in names:
        values = [metrics.get(f"{p}_{key}") for p in ("holdout", "baseline")]
        lines.append(f"{label:<32} " + " ".join(f"{v:>10.3f}" if v is not None else f"{'-':>10}" for v in values))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
