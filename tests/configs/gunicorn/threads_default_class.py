# Pattern: `threads` set with the default worker class. gunicorn's docs for `threads`: "If you
# try to use the sync worker type and set the threads setting to more than 1, the gthread
# worker type will be used instead" (Config.worker_class / worker_class_str in
# gunicorn/config.py), so the master runs gthread workers.
# expect: workers=2 timeout=30 worker_class=gthread
workers = 2
threads = 4
