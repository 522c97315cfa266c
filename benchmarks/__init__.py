"""Benchmarks of ``statuses`` against a hand-written baseline and its peers.

Run them with ``python -m benchmarks`` (``--quick`` for tiny sizes, ``--json
FILE`` to keep the figures); see :mod:`benchmarks.__main__`.
"""
