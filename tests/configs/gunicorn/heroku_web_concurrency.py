# Pattern: a literal default, then the Heroku-style override from the environment. Heroku's
# Python buildpack sets WEB_CONCURRENCY per dyno size ("Optimizing Python Application
# Concurrency", devcenter.heroku.com/articles/python-concurrency) and configs read it with
# os.environ. The last assignment wins; it is computed, so the count is unknown (gunicorn runs
# 3 here because the test master has WEB_CONCURRENCY=3), never the stale literal 2.
# expect: workers=unknown timeout=30 worker_class=sync
import os

workers = 2
workers = int(os.environ.get("WEB_CONCURRENCY", 2))
