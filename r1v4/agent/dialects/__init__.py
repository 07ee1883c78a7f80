"""Model dialects: how each model family writes tool calls and reads their results.

The contract is `base.Dialect`; one module per family (`r1v4`, `qwen3_vl`, `deepeyes`,
`deepeyes_v2`, `thyme`, `mini_o3`, `pyvision`) defines its `DIALECT`; `registry` names them.
Shared pieces: `crops` (host zoom and grounding), `code_hooks` (code-writing families),
`shapes` (observation helpers), `sampling` (each family's published request settings).
"""
