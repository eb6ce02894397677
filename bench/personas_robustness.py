"""Persona recovery on worlds the naming rules never saw: not a test, an evaluation.

The naming rules (``personas.rules``) were set on the default world (seed
20140301). Here the recovery (purity of each found persona, adjusted Rand
index: bench/personas.py) is measured on worlds they were not tuned on:

- ``seed``: the default world drawn from another seed;
- ``behaviour``: every behavioural parameter and category weight of the four
  persona segments moved by a quarter, up or down (the direction alternates
  over segments and parameters, so no segment moves as a whole);
- ``shares``: two personas half as common, two half as common again (the
  persona members' total, and so the mass segment, unchanged).

Each world is generated and run in this process up to its last month's
personas (generate, ingest, conform, aggregate, score, personas; quality
gates off: they are the suite's subject). Writes
bench/results/personas_robustness.json.

    python -m bench.personas_robustness [--users 50000] [--work /tmp/personas-robustness] [--only seed ...]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from bench.metrics import write_result
from bench.personas import evaluate
from jobs.runtime.config import load_config

PERSONAS = ("quality_lifestyle", "paycheck_shopaholic", "shrewd_pragmatist", "elegant_leisure")
# The behaviour a persona is recognised by (the generator's side of the features the rules read).
BEHAVIOUR = (
    "orders_per_month",
    "aov_cny",
    "group_buy_share",
    "overseas_share",
    "company_invoice_share",
    "mobile_share",
    "interactions_per_month",
    "seller_chats_per_month",
    "hour_spread",
)
SHIFT = 0.25
OTHER_SEED = 7


def behaviour_shifted() -> list[str]:
    """--set pairs moving each persona segment's behaviour and category weights by +-SHIFT, alternating."""
    segments = load_config().generator.segments
    sets = []
    for i, name in enumerate(PERSONAS):
        profile = segments[name]
        for j, field in enumerate(BEHAVIOUR):
            factor = 1 + SHIFT if (i + j) % 2 == 0 else 1 - SHIFT
            value = getattr(profile, field) * factor
            if field.endswith("_share"):
                value = min(value, 1.0)
            sets.append(f"generator.segments.{name}.{field}={value:.6g}")
        weights = {
            k: round(w * (1 + SHIFT if (i + j) % 2 == 0 else 1 - SHIFT), 6)
            for j, (k, w) in enumerate(profile.category_mix.items())
        }
        sets.append(f"generator.segments.{name}.category_mix={{{', '.join(f'{k}: {w}' for k, w in weights.items())}}}")
    return sets


def shares_changed() -> list[str]:
    """--set pairs: the first and last persona half as common, the middle two 1.5x (the total unchanged)."""
    segments = load_config().generator.segments
    factors = (0.5, 1.5, 1.5, 0.5)
    return [
        f"generator.segments.{name}.share={segments[name].share * f:.6g}"
        for name, f in zip(PERSONAS, factors, strict=True)
    ]


def variants() -> dict[str, list[str]]:
    return {"seed": [f"generator.seed={OTHER_SEED}"], "behaviour": behaviour_shifted(), "shares": shares_changed()}


def run_world(root: Path, users: int, sets: list[str]) -> float:
    """Generate and run one world up to its last month's personas; returns the wall seconds."""
    from jobs.cli import main

    config = load_config(sets=[f"generator.users={users}", *sets])
    last = config.generator_months()[-1]
    common = [f"lakehouse.root={root}", f"generator.users={users}", "quality.enabled=false", *sets]
    args = [a for s in common for a in ("--set", s)]
    started = time.perf_counter()
    for stage in (["generate"], ["ingest"], ["conform"], ["aggregate"], ["score", "--month", last]):
        assert main([*stage, *args]) == 0, stage
    assert main(["personas", "--month", last, *args]) == 0
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50_000, help="members of each world (default 50 000)")
    parser.add_argument("--work", default="/tmp/personas-robustness", help="where the worlds' lakehouses go")
    parser.add_argument("--only", nargs="*", choices=sorted(variants()), help="run only these variants")
    args = parser.parse_args()
    results = {}
    for name, sets in variants().items():
        if args.only and name not in args.only:
            continue
        root = Path(args.work) / name
        shutil.rmtree(root, ignore_errors=True)
        seconds = run_world(root, args.users, sets)
        months = evaluate(str(root))
        results[name] = {"settings": sets, "seconds": round(seconds, 1), "months": months}
        for m in months:
            worst = min(v for k, v in m["purity"].items() if k != "other")
            print(
                f"{name}: {m['month']} {m['members']:,} members, adjusted Rand index "
                f"{m['adjusted_rand_index']:.3f}, lowest persona purity {worst:.3f}, "
                + ", ".join(f"{k} {n:,}" for k, n in sorted(m["sizes"].items()))
            )
    command = (
        "python -m bench.personas_robustness "
        + f"--users {args.users}"
        + (f" --only {' '.join(args.only)}" if args.only else "")
    )
    print(f"written {write_result('personas_robustness', command, users=args.users, worlds=results)}")


if __name__ == "__main__":
    main()
