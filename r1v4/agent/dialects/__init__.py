"""Model dialects: how each model family writes tool calls and reads their results.

The contract is `base.Dialect`; one module per family (`r1v4`, `qwen3_vl`, `deepeyes`,
`mini_o3`) defines its `DIALECT`; `registry` names them. Shared pieces: `crops` (host zoom
and grounding), `code_hooks` (code-writing families), `shapes` (observation helpers).
"""
