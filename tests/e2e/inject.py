"""The fault tests' launcher: the taoqi CLI killed right after one table's write, and their in-process faults.

    python -m tests.e2e.inject kill-after TABLE -- <taoqi args>   SIGKILL right after TABLE's commit

:func:`fail_first_attempt` makes the first attempt of a task fail (the suite's session retries it).
Test code only: the job has no fault hooks of its own.
"""

from __future__ import annotations

import os
import signal
import sys
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
    (fault, table), args = argv[:split], argv[split + 1 :]
    assert fault == "kill-after", fault
    replace_where, append = tables.replace_where, tables.append

    def killed_after(write):
        def written(df, config, name, *rest, **kw):
            done = write(df, config, name, *rest, **kw)
            if name == table:
                os.kill(os.getpid(), signal.SIGKILL)  # no finally blocks, no lock release: a lost driver
            return done

        return written

    tables.replace_where, tables.append = killed_after(replace_where), killed_after(append)
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
