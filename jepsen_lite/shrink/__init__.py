"""``jepsen-lite shrink RUN_DIR``: from a failing simulated run, search for a smaller run
that fails the same checker (fewer faults, a shorter time limit, fewer clients, a lower
rate; the same seed) and write it as a new replayable run folder.

:func:`~.shrinker.shrink_run` is the entry point; :mod:`.search` holds the pure search
strategies (delta debugging, bisection) and :mod:`.cli` the command. Importing this
package loads nothing else (``jepsen-lite`` starts fast); import :mod:`.shrinker` to use it.
"""
