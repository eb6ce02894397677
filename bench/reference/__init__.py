"""Single-machine references of the Spark stages, to put the Spark timings in proportion (issue 9).

Not tests and not part of the job: `bench/run.py` runs them beside the Spark
stage over the same data and reports the ratio.
"""
