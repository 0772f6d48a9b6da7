"""One module per ``consensus bench`` suite; see :mod:`consensus.bench.registry`."""
