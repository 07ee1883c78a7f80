"""Layer 3: answers scored, runs analysed, benchmarks imported.

- ``scoring``: scorers of a final answer against ground truth; ``judge``: the LLM judge;
- ``report``: figures over result files; ``render``: their tables (text, md, csv, json);
- ``plans``: figures over a batch's plans;
- ``importer``: benchmark tables → test cases; ``benchmarks``: readers and recipes for
  named benchmarks (to come).

It imports ``endpoint`` (the judge), ``parsing``, ``protocol`` and ``_util``; never the agent.
"""
