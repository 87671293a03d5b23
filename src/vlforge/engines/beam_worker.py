"""The Beam SDK worker process `--engine beam` starts on this machine (DirectRunner's
multi-processing mode): Beam's own worker, with the signals every vlforge worker has
(env.detach_worker_signals), so Ctrl-C reaches the driver alone and no worker prints a
traceback of its own; and quiet: its log records go to the runner only (Beam's log
channel), not to the terminal the job shares.
"""

from __future__ import annotations

import logging
import sys

from vlforge.engines.env import detach_worker_signals


def main() -> None:
    detach_worker_signals()
    # A root logger with a handler is one that Beam's import-time logging.warning calls do
    # not give a stderr handler to (logging.basicConfig); the harness adds its own.
    logging.getLogger().addHandler(logging.NullHandler())
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
