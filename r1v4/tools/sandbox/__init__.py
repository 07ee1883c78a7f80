"""The code sandbox: a warm fork server that runs untrusted Python on a case's images.

Two halves live here. The host side (`server`, `bwrap`, `workdir`) runs inside the toolkit's
event loop; the sandbox side (`worker`, `child`, `limits`, `privileges`, `protocol`) runs in
the fork server, possibly inside bubblewrap, and is loaded by file path under another package
name. This file therefore imports nothing: the worker must not pull in the toolkit.
"""
