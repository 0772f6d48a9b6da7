"""jepsen-lite's runner: tests, workloads, nemeses and environments (``jepsen-lite run``).

The contracts live in :mod:`jepsen_lite.runner.api`. Unlike ``jepsen_lite.history``,
``models`` and ``checker`` (which read histories from any system), the runner drives
clusters, so it imports ``consensus`` (client, runtime, simulator).
"""
