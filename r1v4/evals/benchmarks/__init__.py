"""Benchmark readers and recipes: named benchmarks turned into test cases and scored the way
their authors score them.

Empty for now. Code that goes here: one module per benchmark (its file layout, columns,
answer format and official metric), built on ``r1v4.evals.importer`` for the reading and on
``r1v4.evals.scoring`` for the scoring, with a registry from benchmark names to recipes that
the ``import`` and ``report`` commands derive their choices from. What a benchmark's files
and metric are comes from its authors' documentation, never from a guess. Imports follow
the evals' layer rules (no agent, no batch, no command line).
"""
