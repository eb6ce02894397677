"""The Databricks bundle (databricks.yml), offline: the bundle CLI cannot be installed here and `bundle validate`
needs a workspace, so the jobs are loaded with the `databricks-bundles` models (`Job.from_dict` rejects unknown
fields and wrong types), after resolving `${var.*}` for a target the way the CLI does.

What a Databricks wheel task does is reproduced here: it sets ``sys.argv`` to the entry point's name and the
task's parameters (``{{job.parameters.x}}`` replaced by the run's values) and calls the entry point it finds in
the wheel's metadata. The tests call the console script of pyproject.toml the same way, with the stage itself
stubbed, and check what the real parser and config loader made of the job parameters.
"""

from __future__ import annotations

import copy
import fnmatch
import importlib
import posixpath
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from databricks.bundles.jobs import Job, Task
from packaging.requirements import Requirement

from jobs import cli
from jobs.run import CHAIN
from jobs.runtime.config import load_config

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = yaml.safe_load((ROOT / "databricks.yml").read_text(encoding="utf-8"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
JOB_KEY = "taoqi_monthly"
# The job's tasks: the stages of `taoqi run`, then the lakehouse's upkeep.
TASKS = (*CHAIN, "maintain")

REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
JOB_PARAMETER = re.compile(r"\{\{\s*job\.parameters\.([A-Za-z0-9_]+)\s*\}\}")
# What the CLI itself knows at deploy time, for the references beside ${var.*}.
DEPLOYER = {
    "workspace.current_user.short_name": "tester",
    "workspace.current_user.userName": "tester@example.com",
    "bundle.name": "taoqi",
}
# A production deploy is given its service principal on the command line: --var prod_service_principal=...
PROD_VARS = {"prod_service_principal": "11111111-2222-3333-4444-555555555555"}
# Databricks Runtime -> the Apache Spark it ships (Databricks' release notes: "versions and compatibility").
DBR_SPARK = {"17.0": "4.0.0", "17.1": "4.0.0", "17.2": "4.0.0", "17.3": "4.0.0", "18.0": "4.1.0"}


def variables(target: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The value of every declared variable in ``target``: default, then the target's, then ``--var``."""
    declared = BUNDLE["variables"]
    values = {name: spec["default"] for name, spec in declared.items() if "default" in spec}
    values.update(BUNDLE["targets"][target].get("variables") or {})
    values.update(given or {})
    unknown = set(values) - set(declared)
    assert not unknown, f"target {target} sets undeclared variable(s) {sorted(unknown)}"
    # the CLI resolves every declared variable for the selected target, used there or not
    missing = set(declared) - set(values)
    assert not missing, f"target {target}: no value for variable(s) {sorted(missing)}: the CLI refuses to deploy"
    return values


def resolve(node: Any, target: str, values: dict[str, Any]) -> Any:
    """``node`` with every ``${...}`` substituted; a whole-value reference keeps the variable's type."""
    known = {**DEPLOYER, "bundle.target": target, **{f"var.{k}": v for k, v in values.items()}}
    if isinstance(node, dict):
        return {k: resolve(v, target, values) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, target, values) for v in node]
    if isinstance(node, str):
        if whole := REFERENCE.fullmatch(node):
            return resolve(known[whole.group(1)], target, values)
        return REFERENCE.sub(lambda m: str(resolve(known[m.group(1)], target, values)), node)
    return node


def bundle_jobs(target: str, given: dict[str, Any] | None = None) -> dict[str, Job]:
    """Every job of the bundle as deployed to ``target``, loaded by databricks-bundles."""
    # a target's `resources` would be merged into the jobs by rules this test does not reproduce
    assert "resources" not in BUNDLE["targets"][target], "teach bundle_jobs() the CLI's merge of target resources"
    values = variables(target, given)
    return {
        key: Job.from_dict(resolve(copy.deepcopy(job), target, values))
        for key, job in BUNDLE["resources"]["jobs"].items()
    }


def monthly(target: str = "prod", given: dict[str, Any] | None = None) -> Job:
    return bundle_jobs(target, {**PROD_VARS, **(given or {})} if target == "prod" else given)[JOB_KEY]


def console_script(name: str):
    """The function behind ``name`` in [project.scripts], as the wheel's entry_points.txt names it."""
    module, _, attr = PYPROJECT["project"]["scripts"][name].partition(":")
    target = importlib.import_module(module)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def task_argv(task: Task, run_parameters: dict[str, str]) -> list[str]:
    """The arguments the wheel task passes: its parameters with the job parameters of the run substituted."""
    return [JOB_PARAMETER.sub(lambda m: run_parameters[m.group(1)], p) for p in task.python_wheel_task.parameters]


def run_like_databricks(monkeypatch, task: Task, run_parameters: dict[str, str]) -> tuple[int, str, Any, Any]:
    """Call the task's entry point the way a wheel task does, the stage stubbed: (exit code, stage, config, args)."""
    seen = {}

    def stage(name, config, args):
        seen.update(name=name, config=config, args=args)

    monkeypatch.setattr(cli, "run_stage", stage)
    monkeypatch.setattr(cli, "setup_logging", lambda verbose: None)  # leave the test session's logging alone
    entry = task.python_wheel_task.entry_point
    monkeypatch.setattr(sys, "argv", [entry, *task_argv(task, run_parameters)])
    try:
        console_script(entry)()  # returns None when the stage succeeded
        code = 0
    except SystemExit as failed:
        code = failed.code
    return code, seen.get("name"), seen.get("config"), seen.get("args")


# --------------------------------------------------------------------------- the jobs load


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_every_job_of_the_bundle_loads_with_databricks_bundles(target):
    jobs = bundle_jobs(target, PROD_VARS if target == "prod" else None)
    assert list(jobs) == [JOB_KEY]
    job = jobs[JOB_KEY]
    assert len(job.tasks) == len(TASKS)
    assert all(t.python_wheel_task is not None for t in job.tasks), "every stage is a python_wheel_task"
    # one run at a time (two runs of a month would race on the tables); a second one waits, it is not dropped
    assert job.max_concurrent_runs == 1 and job.queue.enabled


def test_tasks_run_the_projects_console_script_from_the_projects_wheel():
    job = monthly()
    (artifact,) = BUNDLE["artifacts"].values()
    assert artifact["type"] == "whl" and posixpath.normpath(artifact["path"]) == "."
    out_dir = re.search(r"(?:--wheel-dir|--outdir|--out-dir|-w|-o)[ =](\S+)", artifact["build"])
    out_dir = posixpath.normpath(out_dir.group(1) if out_dir else "dist")  # build, uv build: dist/
    wheel = f"{PYPROJECT['project']['name']}-{PYPROJECT['project']['version']}-py3-none-any.whl"
    clusters = {c.job_cluster_key for c in job.job_clusters}
    for task in job.tasks:
        wheel_task = task.python_wheel_task
        assert wheel_task.package_name == PYPROJECT["project"]["name"], task.task_key
        assert wheel_task.entry_point in PYPROJECT["project"]["scripts"], task.task_key
        assert callable(console_script(wheel_task.entry_point))
        whls = [lib.whl for lib in task.libraries if lib.whl]
        assert whls, f"task {task.task_key} does not install the wheel"
        for whl in whls:
            assert posixpath.normpath(posixpath.dirname(whl)) == out_dir, (whl, artifact["build"])
            assert fnmatch.fnmatch(wheel, posixpath.basename(whl)), whl
        assert task.job_cluster_key in clusters, task.task_key


def test_the_task_graph_is_the_stage_chain_of_taoqi_run_then_maintain():
    job = monthly()
    assert [t.task_key for t in job.tasks] == list(TASKS)
    depends_on = {t.task_key: [d.task_key for d in t.depends_on] for t in job.tasks}
    assert depends_on == {stage: [TASKS[i - 1]] if i else [] for i, stage in enumerate(TASKS)}
    # the task named `score` runs `taoqi score`
    assert [t.python_wheel_task.parameters[0] for t in job.tasks] == list(TASKS)


# --------------------------------------------------------------------------- the parameters reach the CLI


@pytest.mark.parametrize("stage", TASKS)
def test_the_job_parameters_reach_the_cli_of_each_task(monkeypatch, tmp_path, stage):
    overlay = tmp_path / "workspace_overlay.yaml"
    overlay.write_text("spark:\n  shuffle_partitions: 7\n", encoding="utf-8")
    run = {
        "month": "2026-01",
        "conf": str(overlay),
        "lakehouse_root": "abfss://lake@acct.dfs.core.windows.net/t",
        "mlflow_tracking_uri": "http://mlflow.test:5000",
        "mlflow_name_prefix": "qa_",
        "catalog": "taoqi_qa",
        "schema_prefix": "nightly_",
    }
    job = monthly()
    assert {p.name for p in job.parameters} == set(run), "the test gives every job parameter, and only those"
    (task,) = [t for t in job.tasks if t.task_key == stage]

    args = cli.build_parser().parse_args(task_argv(task, run))
    assert args.stage == stage
    if stage == "promote":
        assert not hasattr(args, "month")  # promote has no month: it compares two models
    else:
        assert args.month == run["month"]
    if stage == "renew":
        assert args.year is None  # the month decides the years, as in `taoqi run`
    assert args.conf == [run["conf"]]
    assert args.sets == [
        f"lakehouse.root={run['lakehouse_root']}",
        f"mlflow.tracking_uri={run['mlflow_tracking_uri']}",
        f"mlflow.name_prefix={run['mlflow_name_prefix']}",
        f"lakehouse.catalog={run['catalog']}",
        f"lakehouse.schema_prefix={run['schema_prefix']}",
    ]

    code, ran, config, _ = run_like_databricks(monkeypatch, task, run)
    assert (code, ran) == (0, stage)
    assert config.lakehouse.root == run["lakehouse_root"]
    assert config.mlflow.tracking_uri == run["mlflow_tracking_uri"]
    assert config.spark.shuffle_partitions == 7  # the overlay of the conf parameter was applied
    assert config.apass.selector.registered_model == "qa_apass_selector"
    assert (config.lakehouse.catalog, config.lakehouse.schema_prefix) == ("taoqi_qa", "nightly_")


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_a_run_with_the_default_parameters_is_taoqi_run_without_month(monkeypatch, target):
    job = monthly(target)
    defaults = {p.name: p.default for p in job.parameters}
    assert defaults["month"] == "" and defaults["conf"] == "databricks"
    expected_root = resolve("${var.lakehouse_root}", target, variables(target, PROD_VARS if target == "prod" else None))
    packaged = load_config(["databricks"])
    for task in job.tasks:
        code, ran, config, args = run_like_databricks(monkeypatch, task, defaults)
        assert (code, ran) == (0, task.task_key)
        # an empty month is every stage's "no month": every new batch, then the latest scored month
        assert not getattr(args, "month", None)
        assert args.conf == ["databricks"]
        assert config.spark.shuffle_partitions == packaged.spark.shuffle_partitions
        assert config.lakehouse.root == expected_root
        assert config.mlflow.tracking_uri == "databricks"
        # dev's models and experiments are its own: a dev `promote` cannot move prod's champion
        selector = config.apass.selector
        if target == "dev":
            assert selector.registered_model == "dev_tester_apass_selector"
            assert selector.experiment == "/Shared/taoqi/dev_tester_apass_selector"
        else:
            assert (selector.registered_model, selector.experiment) == (
                "apass_selector",
                "/Shared/taoqi/apass_selector",
            )


def test_a_failed_stage_fails_its_databricks_task(monkeypatch):
    (task,) = [t for t in monthly().tasks if t.task_key == "ingest"]
    run = {
        "month": "",
        "conf": "databricks",
        "lakehouse_root": "dbfs:/t",
        "mlflow_tracking_uri": "databricks",
        "mlflow_name_prefix": "",
        "catalog": "main",
        "schema_prefix": "taoqi_",
    }
    monkeypatch.setattr(cli, "setup_logging", lambda verbose: None)
    # a bad setting: the CLI prints one line and returns 2
    monkeypatch.setattr(sys, "argv", ["taoqi", *task_argv(task, run), "--set", "no.such=1"])
    with pytest.raises(BaseException) as failure:
        console_script(task.python_wheel_task.entry_point)()  # what the wheel task does: the result is dropped
    # a wheel task fails only on an exception: the CLI's exit code 2 is raised, not returned
    assert isinstance(failure.value, SystemExit) and failure.value.code == 2


# --------------------------------------------------------------------------- renew --month = what run renews


def _fake_lakehouse(monkeypatch, batches: list[str], scored: list[str]) -> list[tuple[int, str]]:
    """gold_log answers from ``batches``/``scored``; returns the list the stubbed renew() appends (year, batch) to."""
    from jobs import renew
    from jobs.runtime import gold_log

    months = {"gold.user_month": batches, "gold.scores": scored}
    monkeypatch.setattr(gold_log, "computed", lambda spark, config, table: dict.fromkeys(months[table]))
    renewed: list[tuple[int, str]] = []
    monkeypatch.setattr(
        renew, "renew", lambda spark, config, year, *, latest_batch: renewed.append((year, latest_batch))
    )
    return renewed


@pytest.mark.parametrize("month", ["2026-01", "2025-06", ""])
def test_renew_month_evaluates_the_years_a_monthly_run_evaluates(monkeypatch, month):
    from jobs import promote, renew, run, selection, train

    batches = [f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01", "2026-02"]
    renewed = _fake_lakehouse(monkeypatch, batches, scored=batches[:-1])  # the latest batch is not scored yet
    config = load_config([])
    renew.execute(None, config, cli.build_parser().parse_args(["renew", "--month", month]))
    by_renew = list(renewed)

    renewed.clear()
    monkeypatch.setattr(train, "train", lambda spark, config, month: 1)
    monkeypatch.setattr(promote, "promote", lambda config: (False, "kept the champion"))
    monkeypatch.setattr(selection, "select", lambda spark, config, months: None)
    run.apass_stages(None, config, [month or "2026-01"])  # run renews for the latest scored month
    assert by_renew == renewed
    year = int((month or "2026-01")[:4])
    assert by_renew == [(year - 1, "2026-02"), (year, "2026-02")]


def test_renew_month_and_year_errors(monkeypatch, capsys):
    from jobs import renew
    from jobs.runtime.errors import UserError

    batches = ["2025-01", "2025-02", "2025-03"]
    renewed = _fake_lakehouse(monkeypatch, batches, scored=batches[:2])
    config = load_config([])
    parse = cli.build_parser().parse_args
    with pytest.raises(UserError) as unscored:
        renew.execute(None, config, parse(["renew", "--month", "2025-03"]))
    with pytest.raises(UserError) as malformed:
        renew.execute(None, config, parse(["renew", "--month", "2025-3"]))
    for err in (unscored, malformed):
        assert "\n" not in str(err.value)
    assert "2025-03" in str(unscored.value) and "taoqi score --month 2025-03" in str(unscored.value)
    assert "YYYY-MM" in str(malformed.value)
    renew.execute(None, config, parse(["renew", "--year", "2026"]))
    assert renewed == [(2026, "2025-03")]
    with pytest.raises(SystemExit):
        parse(["renew", "--year", "2025", "--month", "2025-02"])
    assert "not allowed with argument" in capsys.readouterr().err


# --------------------------------------------------------------------------- schedule, cluster, targets


def test_the_schedule_is_the_8th_of_every_month_in_shanghai_and_paused():
    for target in ("dev", "prod"):
        schedule = monthly(target).schedule
        seconds, minutes, hours, day_of_month, month, day_of_week, *year = schedule.quartz_cron_expression.split()
        assert all(f.isdigit() for f in (seconds, minutes, hours)), "once on that day"
        assert (day_of_month, month, day_of_week) == ("8", "*", "?") and year in ([], ["*"])
        assert schedule.timezone_id == "Asia/Shanghai"
        assert schedule.pause_status.value == "PAUSED"
    assert monthly("prod", {"schedule_pause_status": "UNPAUSED"}).schedule.pause_status.value == "UNPAUSED"


def test_the_job_cluster_runs_the_spark_the_wheel_is_built_for():
    job = monthly()
    (requirement,) = [
        Requirement(d) for d in PYPROJECT["project"]["optional-dependencies"]["local"] if d.startswith("pyspark")
    ]  # the Spark the project is built and tested on
    for cluster in job.job_clusters:
        runtime = re.fullmatch(r"(\d+\.\d+)\.x-scala(2\.\d+)", cluster.new_cluster.spark_version)
        assert runtime, cluster.new_cluster.spark_version
        assert runtime.group(1) in DBR_SPARK, f"Databricks Runtime {runtime.group(1)}: add its Spark to DBR_SPARK"
        assert requirement.specifier.contains(DBR_SPARK[runtime.group(1)]), (runtime.group(1), str(requirement))
        assert runtime.group(2) == "2.13"  # Spark 4 is Scala 2.13 only


def test_dev_and_prod_targets():
    targets = BUNDLE["targets"]
    assert set(targets) == {"dev", "prod"}
    assert targets["dev"]["mode"] == "development" and targets["dev"]["default"] is True
    prod = targets["prod"]
    assert prod["mode"] == "production"
    assert REFERENCE.fullmatch(prod["workspace"]["root_path"]).group(1).startswith("var.")
    assert REFERENCE.fullmatch(prod["run_as"]["service_principal_name"]).group(1).startswith("var.")
    # the workspace comes from the deployer's profile: no host (nor secret) is written down
    assert "host" not in (BUNDLE.get("workspace") or {}) and all(
        "host" not in (t.get("workspace") or {}) for t in targets.values()
    )
    assert all(spec.get("description") for spec in BUNDLE["variables"].values()), "every variable says what it is"
    # prod has no service principal unless the deployer names one
    with pytest.raises(AssertionError, match="prod_service_principal"):
        variables("prod")
    dev_root = resolve("${var.lakehouse_root}", "dev", variables("dev"))
    prod_root = resolve("${var.lakehouse_root}", "prod", variables("prod", PROD_VARS))
    assert dev_root != prod_root and "tester" in dev_root, "a dev run never writes the production lakehouse"
    # nor names its tables where prod's are: the same catalog, schemas of the developer's own
    names = {
        target: resolve("${var.catalog}.${var.schema_prefix}gold", target, variables(target, given))
        for target, given in (("dev", None), ("prod", PROD_VARS))
    }
    assert names == {"dev": "main.dev_tester_taoqi_gold", "prod": "main.taoqi_gold"}


def test_every_reference_in_the_bundle_is_declared():
    text = (ROOT / "databricks.yml").read_text(encoding="utf-8")
    declared = set(BUNDLE["variables"])
    used = {m.group(1)[len("var.") :] for m in REFERENCE.finditer(text) if m.group(1).startswith("var.")}
    assert used <= declared, sorted(used - declared)
    assert declared <= used, f"unused variable(s) {sorted(declared - used)}"
    job_parameters = {p["name"] for p in BUNDLE["resources"]["jobs"][JOB_KEY]["parameters"]}
    assert set(JOB_PARAMETER.findall(text)) == job_parameters
