"""Checkers of runner histories (:class:`jepsen_lite.runner.api.Checker`): one module per
property (linearizability per key, lost writes, set, counter, bank, convergence,
availability, the simulator's invariants)."""
