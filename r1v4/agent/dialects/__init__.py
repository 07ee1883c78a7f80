"""Model tool dialects: how each model family writes a tool call and wants its result back.

Empty for now. Code that goes here: one module per dialect (Qwen3-VL / Hermes-style
``<tool_call>`` JSON, R1V4's own text protocol, the hosted DeepResearch endpoint's one tag
per tool, OpenAI structured ``tool_calls``), each turning a model's turn into
``{"name", "arguments"}`` calls and a tool result into the message that model expects, and
a registry from dialect names to them that the command line's choices are derived from.
Parsing of the text stays in ``r1v4.parsing``; a dialect decides what to send and how to
read the reply for one model family. Imports follow the agent's layer rules.
"""
