"""MLflow plumbing of the APASS selector and the persona model: the tracking store, experiments,
versions and aliases.

The one module (with the model stages: train, promote, models, select, personas)
that imports MLflow. The default store is a SQLite file under a local
lakehouse root (``<root>/mlflow.db``, artifacts in ``<root>/mlflow``);
``mlflow.tracking_uri`` points the same code at a tracking server or
Databricks. Versions are promoted with aliases (``challenger``,
``champion``), never with the deprecated stages.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from jobs.runtime.config import Config, ConfigError
from jobs.runtime.errors import UserError

CHAMPION = "champion"
CHALLENGER = "challenger"
PERSONAS_ALIAS = "current"  # the persona model of the latest `taoqi personas`
MODEL_ARTIFACT = "model"
HOLDOUT_ARTIFACT = "holdout/holdout.parquet"
LAKEHOUSE_TAG = "taoqi.lakehouse"  # a training run's tag: the lakehouse its labels and indicators came from
BOOSTER_CLASS = "lightgbm.basic.Booster"  # the only selector `taoqi select` loads (load_booster)

# MLflow reads its log level when first imported: quiet its INFO chatter (table creation, migrations).
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def _local_root(config: Config) -> Path | None:
    """The lakehouse root as a local directory, or None when it is remote (s3a://, abfss://, dbfs:/ ...)."""
    local = config.local_root()
    return None if local is None else Path(local).resolve()


def tracking_uri(config: Config) -> str:
    """The configured tracking URI, or SQLite under a local lakehouse root."""
    if config.mlflow.tracking_uri:
        return config.mlflow.tracking_uri
    root = _local_root(config)
    if root is None:
        raise ConfigError(
            f"mlflow.tracking_uri is not set and the lakehouse root {config.lakehouse.root} is not "
            "local: set mlflow.tracking_uri (a tracking server, or databricks)"
        )
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def may_hold_models(config: Config) -> bool:
    """False when the default local store was never created (no model can exist): callers skip MLflow."""
    if config.mlflow.tracking_uri:
        return True
    root = _local_root(config)
    return root is None or (root / "mlflow.db").exists()


def connect(config: Config):
    """Point MLflow (tracking and registry) at the configured store and return a client."""
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri(config)
    registry = config.mlflow.registry_uri or uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(registry)
    return MlflowClient(tracking_uri=uri, registry_uri=registry)


def experiment_id(config: Config, name: str | None = None) -> str:
    """The experiment ``name`` (default: the selector's) in the configured store, created on first use
    (artifacts beside the SQLite store when local). Points MLflow at that store first: what is logged next
    goes there, whatever an earlier stage of the process did or did not connect to."""
    import mlflow

    connect(config)
    name = name or config.apass.selector.experiment
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    root = _local_root(config) if not config.mlflow.tracking_uri else None
    location = (root / "mlflow").as_uri() if root is not None else None
    return mlflow.create_experiment(name, artifact_location=location)


def code_version() -> str:
    """The git commit of the checkout when there is one, else the installed package version."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"taoqi-{metadata.version('taoqi')}"


def lakehouse_id(config: Config) -> str:
    """The lakehouse as a model's training run records it (LAKEHOUSE_TAG): a local root as an absolute file URI,
    so the same directory reached from another working directory is the same lakehouse."""
    local = _local_root(config)
    return local.as_uri() if local is not None else config.lakehouse.root.rstrip("/")


class MissingModelError(UserError):
    """No version holds the alias a stage needs."""


@dataclass(frozen=True)
class Version:
    version: int
    run_id: str
    aliases: tuple[str, ...]
    month: str | None
    metrics: dict[str, float]
    created: int  # epoch milliseconds
    lakehouse: str | None  # the lakehouse its training run learnt from (LAKEHOUSE_TAG)


def version_by_alias(client, name: str, alias: str) -> Version | None:
    """The version holding ``alias``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return _version(client, name, mv)


def versions(client, name: str) -> list[Version]:
    """Every registered version, newest first, with its aliases and its training run's metrics."""
    found = client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"])
    # search results carry no aliases: read each version back
    return [_version(client, name, client.get_model_version(name, mv.version)) for mv in found]


def _version(client, name: str, mv) -> Version:
    run = client.get_run(mv.run_id)
    return Version(
        version=int(mv.version),
        run_id=mv.run_id,
        aliases=tuple(sorted(mv.aliases)),
        month=run.data.tags.get("taoqi.month"),
        metrics=dict(run.data.metrics),
        created=int(mv.creation_timestamp),
        lakehouse=run.data.tags.get(LAKEHOUSE_TAG),
    )


def load_booster(config: Config, alias: str):
    """(LightGBM booster, version) of the version ``alias`` names now; a missing alias is a user mistake.

    The alias is resolved once and that version is loaded (an alias moved meanwhile cannot make the
    version recorded differ from the model used), and only as what `taoqi train` logs: a LightGBM
    Booster saved as its own text format, never a pickled class, which loading would run on the driver.
    """
    import mlflow.lightgbm
    from mlflow.models import get_model_info

    client = connect(config)
    name = config.apass.selector.registered_model
    found = version_by_alias(client, name, alias)
    if found is None:
        raise MissingModelError(
            f"no {alias} version of {name} in {tracking_uri(config)}: run `taoqi train` and `taoqi promote` first"
        )
    here = lakehouse_id(config)
    if found.lakehouse != here:
        raise MissingModelError(
            f"{name} version {found.version} (@{alias}) learnt from the lakehouse {found.lakehouse or 'of no record'}, "
            f"not this one ({here}): refusing to use it. Train on this lakehouse (`taoqi train`, `taoqi promote`); "
            "a deployment sharing the registry needs names of its own (mlflow.name_prefix)"
        )
    uri = f"models:/{name}/{found.version}"
    flavor = get_model_info(uri).flavors.get("lightgbm", {})
    if flavor.get("model_class") != BOOSTER_CLASS or not str(flavor.get("data", "")).endswith(".lgb"):
        raise MissingModelError(
            f"{name} version {found.version} (@{alias}) is not a LightGBM Booster in its text format "
            f"(flavor {flavor or 'none'}): it was not logged by `taoqi train`; refusing to load it"
        )
    return mlflow.lightgbm.load_model(uri), found


@contextlib.contextmanager
def quiet_registration():
    """MLflow prints registration notices straight to stderr; keep the CLI's output to its own lines."""
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def log_persona_model(
    config: Config, model, *, month: str, params: dict, metrics: dict, documents: dict, input_versions: dict[str, int]
) -> int:
    """Log the persona model (Spark ML pipeline: assembler, scaler, KMeans) with its k selection and
    mapping rules; register it under personas.registered_model; return the version. It becomes ``current``
    (:func:`make_current`) once the tables it made passed their checks."""
    import mlflow
    import mlflow.spark

    name = config.personas.registered_model
    mlflow.set_experiment(experiment_id=experiment_id(config, config.personas.experiment))
    with mlflow.start_run(run_name=f"{name} {month}"):
        mlflow.set_tags(
            {
                "taoqi.month": month,
                "taoqi.config": config.fingerprint(),
                "taoqi.code_version": code_version(),
                **{f"taoqi.delta_version.{t}": str(v) for t, v in input_versions.items()},
            }
        )
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        for filename, document in documents.items():
            mlflow.log_dict(document, filename)
        with quiet_registration():
            # pinned requirements: inferring them loads the model again in a subprocess (measured: most of
            # the 21 s this step took on the 100 k world)
            info = mlflow.spark.log_model(
                model,
                artifact_path=MODEL_ARTIFACT,
                registered_model_name=name,
                pip_requirements=[f"{p}=={metadata.version(p)}" for p in ("pyspark", "mlflow")],
            )
    return int(info.registered_model_version)


def make_current(config: Config, version: int) -> None:
    """Point the persona model's alias ``current`` at ``version``."""
    connect(config).set_registered_model_alias(config.personas.registered_model, PERSONAS_ALIAS, str(version))


def artifact_base64(run_id: str, path: str) -> str | None:
    """A run's artifact (a plot) as base64, or None if the run has no such artifact."""
    import base64

    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path)
    except (MlflowException, OSError):
        return None
    with open(local, "rb") as source:
        return base64.b64encode(source.read()).decode("ascii")
