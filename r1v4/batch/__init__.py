"""Layer 4: many cases. The runner, its settings and what it writes.

- ``runner``: ``run_batch``: cases in, records out, concurrently, resumable;
- ``settings``: ``RunSettings``, everything one batch is configured with;
- ``results``: the append-only result writer with resume, lock and merge;
- ``inflight``: when snapshots of running cases are written (the format is
  ``r1v4.protocol.sidecars``);
- ``summary``: what a run did, and the closing report.

It imports the agent, the evals, the endpoint, the tools and the layers below; never the
command line, the viewer or the simulator.
"""
