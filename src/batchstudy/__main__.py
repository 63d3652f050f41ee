"""``python -m batchstudy <stage> ...``: run one stage, then leave without the teardown.

When `cli.main` returns, the stage's work is done: its files are written and closed (every
writer is a ``with`` block, `io.atomic_path`), its worker processes joined, its GPU slot
released. What the interpreter would still do is tear its modules down one by one, which
costs a process that imported TensorFlow ~1–1.5 s and one with pandas, SciPy and matplotlib
~0.5 s, in every workflow job (20 TensorFlow jobs in one blobs part of the lr-tuning study).
So the standard streams are flushed and the process ends with ``os._exit`` and the stage's
status. An exception still ends the normal way, with its traceback and status 1, and so does a
run under a profiler or a tracer (``python -m cProfile -m batchstudy ...``, coverage), which
writes its results at exit.
"""

import os
import sys

from .cli import main

status = main()
if sys.getprofile() is None and sys.gettrace() is None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
sys.exit(status)
