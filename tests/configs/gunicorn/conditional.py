# Pattern: a setting changed under a condition, as configs that differ between development and
# production do (`if os.environ.get("DEBUG"): ...`). Which branch ran is not known without
# running the file: the timeout is unknown even though both branches are literals.
# expect: workers=2 timeout=unknown worker_class=sync
import os

workers = 2
timeout = 60
if os.environ.get("APP_DEBUG"):
    timeout = 600
