"""Shuffles sized from what a plan reads: one setting for the demo's month and a million members' year."""

from __future__ import annotations

import math

from pyspark.sql import functions as F

from jobs.runtime.config import load_config
from jobs.runtime.session import INITIAL_PARTITIONS, input_bytes, shuffles_sized_for


def test_a_plan_starts_its_shuffles_from_one_partition_per_slice_of_the_files_it_reads(spark, tmp_path):
    path = str(tmp_path / "events")
    rows = spark.range(200_000).select((F.col("id") % 4).alias("month"), F.rand(7).alias("value"))
    rows.write.format("delta").partitionBy("month").save(path)
    files = {m: sum(f.stat().st_size for f in (tmp_path / "events" / f"month={m}").glob("*.parquet")) for m in range(4)}
    table = spark.read.format("delta").load(path)

    # the bytes are the files the scan keeps once Delta pruned the partitions
    assert input_bytes(table.groupBy("month").count()) == sum(files.values())
    one_month = table.filter("month = 2").groupBy("month").count()
    assert input_bytes(one_month) == files[2]
    # a cache counts as the files under it until it is filled; each table's files count once
    assert input_bytes(table.filter("month = 2").join(table.filter("month = 2"), "value")) == files[2]
    cached = table.filter("month = 2").cache()
    try:
        assert input_bytes(cached.join(table.filter("month = 1"), "value")) == files[2] + files[1]
    finally:
        cached.unpersist()

    per_partition = math.ceil(files[2] / 10)
    config = load_config(sets=[f"spark.shuffle_input_bytes_per_partition={per_partition}"])
    before = spark.conf.get(INITIAL_PARTITIONS, None)
    with shuffles_sized_for(spark, config, one_month) as initial:
        assert initial == max(config.spark.shuffle_partitions, math.ceil(files[2] / per_partition)) == 10
        assert spark.conf.get(INITIAL_PARTITIONS) == "10"
        assert one_month.collect()[0]["count"] == 50_000
    assert spark.conf.get(INITIAL_PARTITIONS, None) == before  # the session's setting again

    # a small read keeps the overlay's floor; a size set by hand wins; an input without a size is left alone
    small = load_config(sets=[f"spark.shuffle_input_bytes_per_partition={files[2] * 100}"])
    with shuffles_sized_for(spark, small, one_month) as initial:
        assert initial == small.spark.shuffle_partitions
    with shuffles_sized_for(spark, load_config(), one_month) as initial:
        assert initial is None  # off by default
    pinned = load_config(
        sets=[f"spark.extra.{INITIAL_PARTITIONS}=64", f"spark.shuffle_input_bytes_per_partition={per_partition}"]
    )
    with shuffles_sized_for(spark, pinned, one_month) as initial:
        assert initial is None
    from_rdd = spark.createDataFrame(spark.sparkContext.parallelize([(1,)]), "x long")
    assert input_bytes(from_rdd) is None
    # a checkpoint carries the estimate of the plan it was taken of, a join's the product of its sides
    joined = table.filter("month = 2").join(table.filter("month = 1"), "value")
    checkpoint = joined.localCheckpoint(eager=True)
    try:
        assert int(checkpoint._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()) > 10 * (files[2] + files[1])
        assert input_bytes(checkpoint.groupBy("value").count()) is None
    finally:
        checkpoint._jdf.queryExecution().analyzed().rdd().unpersist(False)
