"""Running suites: the runner, one run's execution, placement on devices, worker processes, the
results store, records, provenance, progress, the stand-in build.
"""
