"""Layer 0: helpers with no knowledge of the toolkit's domain (inspect_ai's ``_util``).

- ``lenient_json``: JSON with the slips models make;
- ``sqlite_wal``: SQLite files several runs share;
- ``stats``: Wilson intervals, McNemar's test, percentiles;
- ``process``: is a process alive on this host;
- ``images``: loading and preparing images with Pillow.

It may import ``r1v4.protocol`` (data URLs) and nothing else of the package.
"""
