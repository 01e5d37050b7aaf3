"""A queue worker for the demo's numprocs group: prints a line every couple of seconds."""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    name = os.environ.get("SUPERVISOR_PROCESS_NAME", "queue")
    job = 0
    while True:
        job += 1
        print(f"{name}: processed job {job}", flush=True)
        if job % 10 == 0:
            print(f"{name}: WARNING queue latency high ({job % 7} s)", file=sys.stderr, flush=True)
        time.sleep(2)


if __name__ == "__main__":
    main()
