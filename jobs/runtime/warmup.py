"""Start one local session so the Delta jars land in the Ivy cache (run by `make` at install time)."""

from __future__ import annotations

import time

from jobs.runtime.config import load_config
from jobs.runtime.session import build_spark


def main() -> None:
    started = time.perf_counter()
    spark = build_spark(load_config(sets=["spark.master=local[1]"]), app_name="taoqi-warmup")
    spark.range(1).count()
    spark.stop()
    print(f"Delta Lake jars ready ({time.perf_counter() - started:.0f}s)")


if __name__ == "__main__":
    main()
