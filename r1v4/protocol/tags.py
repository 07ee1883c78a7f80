"""The tags of the text protocol (DESIGN.md, "Text protocol inside full_response").

One definition for everyone who writes or reads them: the agent (stop sequences, restored
closing tags, observation blocks), the parser's scanner, and the prompts that ask a model
for them. Tag names are bare (`"think"`); the `*_OPEN`/`*_CLOSE` forms are the literal tags.
"""

from __future__ import annotations

THINK = "think"
TOOL_CALL = "tool_call"
OBSERVATION = "observation"
ANSWER = "answer"
PLAN = "plan"

TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
OBSERVATION_OPEN, OBSERVATION_CLOSE = "<observation>", "</observation>"

# Generation stops right after a tool call (the toolkit must run it) or the answer.
AGENT_STOP = [TOOL_CALL_CLOSE, ANSWER_CLOSE]
