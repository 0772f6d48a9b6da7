"""``consensus bench``: every benchmark of the project behind one command and one format.

Layout (one home per concept):

- ``report.py``: :class:`BenchReport`, the one output format: the machine, versions,
  options and every :class:`Cell` (one point of the matrix: its parameters and figures).
- ``latency.py``: :class:`Latency`, an HDR histogram (the ``hdrhistogram`` package) with
  the percentiles every suite reports.
- ``target.py``: the :class:`~consensus.bench.target.Target` interface a system under
  benchmark implements (our protocols in real processes, etcd), and the client it hands out.
- ``registry.py``: the suites, by name; each suite is a module of ``consensus.bench.suites``.
- ``suites/``: one module per suite.
- ``storage_bench.py``: the storage measurements (WAL appends, fsync, recovery, CRC) behind
  the ``storage`` suite, also ``python -m consensus.bench.storage_bench``.
- ``checker/``: the checker benchmarks behind the ``checker`` suite, each with its
  ``main()`` (``python -m consensus.bench.checker.bench_checker``, ``bench_porcupine``,
  ``bench_vs_porcupine``, ``bench_txn``).

The runtime, storage and checker packages keep no benchmark code: it lives here.
``consensus.bench`` depending on ``jepsen_lite`` is a tool-level dependency, outside the
layering of docs/architecture.md: only ``consensus.bench.checker`` and the ``checker``
suite import ``jepsen_lite``, the suite lazily inside its ``run``, so importing
``consensus.bench`` or any other suite does not import it.

A benchmark is not a test: figures depend on the machine and its load, so every report
carries the load average before and after, and ratios are meant to be read within one run.
"""
