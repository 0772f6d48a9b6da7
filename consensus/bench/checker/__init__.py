"""Benchmarks of ``jepsen_lite``'s checkers, moved here from ``jepsen_lite`` (which keeps no
benchmark code); each module keeps its ``main()``:

- ``bench_checker``: the linearizability checker on simulated and hard kv histories
  (``python -m consensus.bench.checker.bench_checker [--hard]``);
- ``bench_porcupine``: the checker on Porcupine's etcd Jepsen logs;
- ``bench_vs_porcupine``: the checker and Porcupine side by side on the same kv files;
- ``bench_txn``: the list-append checker.

These modules import ``jepsen_lite`` (a tool-level dependency of ``consensus.bench``); the
``checker`` suite (:mod:`consensus.bench.suites.checker`) imports them only when it runs.
"""
