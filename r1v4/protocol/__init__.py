"""Layer 0: the contracts of docs/DESIGN.md ("Contracts") as code, with no heavy imports
(standard library and orjson; no Pillow, no aiohttp).

- ``tags``: the tags of the text protocol;
- ``cases``: test cases (input lines), their ids and shards;
- ``records``: result records (output lines): failure, reading, writing, the seed's fields;
- ``sidecars``: the folders beside a result file (assets, in-flight snapshots);
- ``dataurl``: image data URLs;
- ``plan``: the planner's prompt and the rules a plan must follow;
- ``errors``: ``R1V4Error``, the root of the toolkit's own errors.

Every other layer may import this one; it imports nothing else of the package.
"""
