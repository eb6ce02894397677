"""The APASS selector's model: a monotone LightGBM classifier of "kept at the yearly review", and its metrics.

Pure functions over small pandas frames (labelled members or candidates:
score >= 2500 and credit >= C5, a tiny share of all members, so training
fits one machine). No IO and no MLflow here: ``jobs/train.py`` logs what
these return.

The label is 1 when the yearly review kept the member. The baseline is the
published rule alone: the gates (score >= 2500, credit >= C5: the same
``Gates`` as the Spark jobs, transforms/apass/gates.py) and then the score
as the ranking. Both rankings are judged on the same holdout with the
same gates, inviting the same share of the gated members the capacity
allows in the training month.
"""

from __future__ import annotations

import math

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from transforms.apass.gates import Gates
from transforms.apass.params import LightGbmParams

# What a review that removed an adversary says (silver.apass_reviews.reason), by adversary type.
ADVERSARY_REASONS = {
    "brushing": "brusher",
    "resale": "reseller",
    "serial_returns": "serial_returner",
    "one_off_purchase": "one_off_whale",
}


def booster_params(params: LightGbmParams, features: list[str], monotone: dict[str, int]) -> dict:
    """LightGBM parameters: binary objective, the configured shape, monotone constraints in column order,
    and what makes a fit reproducible (fixed seed, one thread, deterministic, row-wise histograms)."""
    return {
        "objective": "binary",
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "min_data_in_leaf": params.min_data_in_leaf,
        "feature_fraction": params.feature_fraction,
        "lambda_l2": params.lambda_l2,
        "seed": params.seed,
        "monotone_constraints": [monotone.get(f, 0) for f in features],
        "monotone_constraints_method": "intermediate",
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbose": -1,
    }


def fit(train: pd.DataFrame, *, features: list[str], params: LightGbmParams, monotone: dict[str, int]) -> lgb.Booster:
    """Fit the selector on labelled rows (column ``label``: 1 kept, 0 removed), rows in a fixed order."""
    ordered = train.sort_values(["as_of_month", "user_id"], kind="mergesort")
    data = lgb.Dataset(
        ordered[features].astype("float64"),
        label=ordered["label"].astype("int"),
        feature_name=features,
        free_raw_data=False,
    )
    return lgb.train(booster_params(params, features, monotone), data, num_boost_round=params.num_boost_round)


def predict(booster: lgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    """P(kept) for each row, from the booster's own feature list."""
    return booster.predict(frame[booster.feature_name()].astype("float64"), num_threads=1)


def top_k(frame: pd.DataFrame, ranking: str, k: int) -> pd.DataFrame:
    """The k best rows by ``ranking``; ties keep the frame's order (the labelled frame is ordered by month and
    member, and its holdout artifact keeps that order without the ids), so the choice is reproducible."""
    return frame.sort_values(ranking, ascending=False, kind="mergesort").head(k)


def invitation_metrics(
    frame: pd.DataFrame, *, ranking: str, gate: pd.Series, invite_share: float, prefix: str
) -> dict[str, float]:
    """AUC and average precision of ``ranking`` over all rows, then precision among the invited: the top
    ``invite_share`` of the gated rows, and their adversary shares where the removal reasons are at hand (at
    training; the logged holdout leaves them out)."""
    y = frame["label"].astype(int)
    out: dict[str, float] = {}
    if y.nunique() == 2:
        out[f"{prefix}_auc"] = float(roc_auc_score(y, frame[ranking]))
        out[f"{prefix}_average_precision"] = float(average_precision_score(y, frame[ranking]))
    candidates = frame[gate]
    k = max(1, math.ceil(invite_share * len(candidates))) if len(candidates) else 0
    invited = top_k(candidates, ranking, k)
    out[f"{prefix}_invited"] = float(len(invited))
    if len(invited):
        out[f"{prefix}_precision_at_k"] = float(invited["label"].mean())
    if len(invited) and "reason" in invited:
        reasons = invited["reason"].fillna("")
        out[f"{prefix}_adversary_share"] = float(reasons.isin(list(ADVERSARY_REASONS)).mean())
        for reason, kind in ADVERSARY_REASONS.items():
            out[f"{prefix}_adversary_share_{kind}"] = float((reasons == reason).mean())
    return out


def evaluate(
    holdout: pd.DataFrame, *, probabilities: np.ndarray, gates: Gates, invite_share: float
) -> dict[str, float]:
    """The learned selector and the score-only baseline on the same holdout rows and gates."""
    frame = holdout.assign(model_probability=probabilities)
    gate = gates.passes(frame["score"], frame["credit_level_number"])
    metrics = {
        "holdout_rows": float(len(frame)),
        "holdout_kept": float(frame["label"].sum()),
        "holdout_gated": float(gate.sum()),
        "invite_share": invite_share,
    }
    metrics |= invitation_metrics(
        frame, ranking="model_probability", gate=gate, invite_share=invite_share, prefix="holdout"
    )
    metrics |= invitation_metrics(frame, ranking="score", gate=gate, invite_share=invite_share, prefix="baseline")
    return metrics


def importance(booster: lgb.Booster) -> pd.DataFrame:
    """Total gain per feature, largest first."""
    return (
        pd.DataFrame({"feature": booster.feature_name(), "gain": booster.feature_importance(importance_type="gain")})
        .sort_values(["gain", "feature"], ascending=[False, True], kind="mergesort")
        .reset_index(drop=True)
    )


def reason_codes(contributions: np.ndarray, features: list[str], count: int) -> tuple[list[list[str]], list[list[str]]]:
    """Per row, the ``count`` features that raised the log-odds most and that lowered it most.

    ``contributions`` is LightGBM's ``pred_contrib`` output: one column per
    feature and the expected value last. A code reads ``feature +0.42``.
    """
    per_feature = contributions[:, : len(features)]
    order = np.argsort(-per_feature, axis=1, kind="stable")
    ups, downs = [], []
    for row, idx in zip(per_feature, order, strict=True):
        ups.append([f"{features[j]} {row[j]:+.2f}" for j in idx[:count] if row[j] > 0])
        downs.append([f"{features[j]} {row[j]:+.2f}" for j in idx[::-1][:count] if row[j] < 0])
    return ups, downs


def scorer(model_string: str, features: list[str], reason_count: int):
    """A ``mapInPandas`` function: P(kept) and the reason codes of each candidate, one booster per task.

    Input: user_id, month and ``features``. Output columns: user_id, month, model_score, reasons_up,
    reasons_down (SCORED_SCHEMA).
    """

    def score(batches):
        booster = lgb.Booster(model_str=model_string)
        for batch in batches:
            if batch.empty:
                continue
            x = batch[features].astype("float64")
            contributions = booster.predict(x, pred_contrib=True, num_threads=1)
            ups, downs = reason_codes(contributions, features, reason_count)
            yield pd.DataFrame(
                {
                    "user_id": batch["user_id"].astype("int64"),
                    "month": batch["month"],
                    "model_score": booster.predict(x, num_threads=1),
                    "reasons_up": ups,
                    "reasons_down": downs,
                }
            )

    return score


SCORED_SCHEMA = "user_id long, month string, model_score double, reasons_up array<string>, reasons_down array<string>"
