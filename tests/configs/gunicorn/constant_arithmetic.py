# Pattern: durations written as arithmetic on constants (`timeout = 5 * 60` for five minutes,
# as long-request apps do) and a name defined above. Folded statically: 300 s, not the 30 s
# default.
# expect: workers=default timeout=300 worker_class=sync
MINUTE = 60
timeout = 5 * MINUTE
graceful_timeout = timeout // 10
