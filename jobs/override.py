"""Audited APASS overrides: `taoqi override add` writes one, `taoqi override list` shows them.

An override invites or excludes one member in one selection month, with a
reason and an author; ops.apass_overrides is append-only (the latest
override of a member and month wins) and `taoqi select` applies them after
the model and before the quota. Every override shows in gold.apass_selection
with its reason. Never an implicit floor: nobody is invited by a rule that
is not written down here.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.runtime import tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError

DESCRIPTION = __doc__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("command", choices=("add", "list"), help="add one override, or list them")
    parser.add_argument("--user", type=int, help="member id (add)")
    parser.add_argument("--month", help="selection month YYYY-MM (add: required; list: only this month)")
    parser.add_argument("--action", choices=("invite", "exclude"), help="invite or exclude (add)")
    parser.add_argument("--reason", help="why, in words the audit will read (add)")
    parser.add_argument("--author", help="who decided (add; default: the login name)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    from jobs.selection import OVERRIDES, add_override

    if args.command == "add":
        missing = [f"--{n}" for n in ("user", "month", "action", "reason") if str(getattr(args, n) or "").strip() == ""]
        if missing:
            raise UserError(f"override add needs {', '.join(missing)}")
        check_month(args.month)
        scores = tables.read(spark, config, "gold.scores")
        if scores.filter((F.col("month") == args.month) & (F.col("user_id") == args.user)).isEmpty():
            raise UserError(f"user {args.user} has no score for {args.month}: not a member then, or an unknown id")
        row = dict(
            user_id=args.user,
            month=args.month,
            action=args.action,
            reason=args.reason.strip(),
            author=args.author or getpass.getuser(),
            created_at=datetime.now(UTC),
        )
        add_override(spark, config, row)
        print(
            f"override: {row['action']} user {row['user_id']} in {row['month']} by {row['author']}: "
            f"{row['reason']} (applies at the next `taoqi select --month {row['month']}`)"
        )
        return
    if not tables.exists(spark, config, OVERRIDES):
        print("no overrides yet (`taoqi override add ...`)")
        return
    rows = tables.read(spark, config, OVERRIDES)
    if args.month:
        rows = rows.filter(F.col("month") == check_month(args.month))
    found = rows.orderBy("month", "created_at").collect()  # an audit log: a handful of rows
    print(f"{'month':<8} {'user':>12} {'action':<8} {'author':<12} {'at (UTC)':<17} reason")
    for r in found:
        print(
            f"{r['month']:<8} {r['user_id']:>12} {r['action']:<8} {r['author']:<12} "
            f"{r['created_at']:%Y-%m-%d %H:%M} {r['reason']}"
        )


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["override", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
