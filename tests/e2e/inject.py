"""The fault tests' launcher: the taoqi CLI with one fault injected at a table write.

    python -m tests.e2e.inject kill-after TABLE -- <taoqi args>         SIGKILL right after TABLE's commit
    python -m tests.e2e.inject wait-before TABLE FLAG -- <taoqi args>   hold (and the lock) until FLAG exists
    python -m tests.e2e.inject fail-first-attempt TABLE MARK -- <taoqi args>
        the first attempt of the first task writing TABLE raises (MARK is touched); Spark retries it
        (the suite's own session retries too: tests/e2e/test_faults.py uses fail_first_attempt in process)

Test code only: the job has no fault hooks of its own.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from pyspark.sql import functions as F

from jobs import cli
from jobs.runtime import tables


def fail_first_attempt(mark: str):
    """A filter that keeps every row, but raises in attempt 0 of partition 0 (where Spark runs it)."""

    def keep(_: object) -> bool:
        from pyspark import TaskContext

        task = TaskContext.get()
        if task.partitionId() == 0 and task.attemptNumber() == 0:
            Path(mark).touch()
            raise RuntimeError("injected fault: the first attempt of this task fails")
        return True

    return F.udf(keep, "boolean").asNondeterministic()


def main(argv: list[str]) -> int:
    split = argv.index("--")
    (fault, table, *extra), args = argv[:split], argv[split + 1 :]
    replace_where, append = tables.replace_where, tables.append

    def inject(write):
        def written(df, config, name, *rest, **kw):
            if name == table and fault == "fail-first-attempt":
                df = df.filter(fail_first_attempt(extra[0])(F.lit(1)))
            if name == table and fault == "wait-before":
                while not Path(extra[0]).exists():
                    time.sleep(0.1)
            done = write(df, config, name, *rest, **kw)
            if name == table and fault == "kill-after":
                os.kill(os.getpid(), signal.SIGKILL)  # no finally blocks, no lock release: a lost driver
            return done

        return written

    tables.replace_where, tables.append = inject(replace_where), inject(append)
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
