# Pattern: PEP 526 annotated module-level settings (`workers: int = 4`), written by projects
# that type-check their gunicorn config with mypy. gunicorn executes the file and reads its
# module globals (gunicorn/app/base.py, get_config_from_filename -> vars(mod)), so an annotated
# assignment sets the setting exactly like a plain one.
# expect: workers=4 timeout=45 worker_class=sync bind=unix:app.sock
bind: str = "unix:app.sock"
workers: int = 4
timeout: int = 45
