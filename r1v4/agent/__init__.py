"""Layer 3: one case through the endpoint, the interleaved agent loop.

- ``loop``: ``CaseRun``/``run_case``: generate → tool call → observation → … → answer;
- ``deps``: ``AgentDeps``, what every case of a run shares, and each dialect's plan for the
  run (its form for the run's tools, sampling, system prompt), worked out once;
- ``settings``: ``AgentSettings``, all a case's run needs to know;
- ``turns``: observation blocks, restored closing tags, the per-request image limit;
- ``trajectory``: a finished trajectory → the result record;
- ``prompts``: the system prompts; ``planning``: plan guidance and plan-following;
- ``live``: ``--live`` output as a stream closes units;
- ``dialects``: how other models write tool calls (to come).

It imports ``endpoint``, ``tools``, ``parsing``, ``protocol`` and ``_util``; never the batch,
the evals or the command line.
"""
