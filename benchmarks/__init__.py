"""``make bench``: opsconsole's figures, each as a ratio against a baseline measured in the
same run (median of several repetitions), because absolute numbers on a shared machine say
little. ``python -m benchmarks.run_all`` runs them all; ``python -m benchmarks.bench_x`` runs
one alone.
"""
