# Pattern: gunicorn's own documentation example ("Configuration File" in docs/source/
# configure.rst: `workers = multiprocessing.cpu_count() * 2 + 1`), the most copied gunicorn
# config. The count depends on the machine: unknown until the master says it.
# expect: workers=unknown timeout=30 worker_class=sync
import multiprocessing

workers = multiprocessing.cpu_count() * 2 + 1
