"""A code family writes its Python inside a Markdown fence (`<code>```python …```</code>`:
DeepEyesV2, Thyme, PyVision). The case page shows the Python that ran, highlighted, without
the fence marks (which the highlighter would otherwise flag as errors)."""

from __future__ import annotations

import json
from pathlib import Path

from r1v4.parsing.fences import strip_fences
from r1v4.viewer import create_app, get_library

FENCED = "```python\nfrom PIL import Image\nprint(image_clue_0.size)\n```"


def test_fenced_code_is_shown_as_the_python_that_ran(tmp_path: Path) -> None:
    text = (
        "<think>Check the size.</think>"
        f"<tool_call>{json.dumps({'name': 'code', 'arguments': {'code': FENCED}})}</tool_call>"
        '<observation>{"type": "code", "result": "(640, 480)\\n"}</observation>'
        "<answer>640</answer>"
    )
    record = {"id": "c1", "image": "", "question": "q", "response": {"full_response": text}}
    path = tmp_path / "result.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    app = create_app({"RESULT_FILES": [str(path)], "ROOTS": [str(tmp_path)]})
    (opened,) = get_library(app).files()
    html = app.test_client().get(f"/f/{opened.fid}/case/0").get_data(as_text=True)
    code = html[html.index('<pre class="code highlight">') :].split("</pre>", 1)[0]
    assert "```" not in code and "err" not in code
    assert '<span class="kn">from</span>' in code and "image_clue_0" in code


def test_strip_fences_keeps_unfenced_code_and_joins_several_blocks() -> None:
    assert strip_fences("x = 1\nprint(x)") == "x = 1\nprint(x)"
    assert strip_fences("```py\na = 1\n```\ntext\n```python\nb = 2\n```") == "a = 1\nb = 2"
    assert strip_fences("```python\ncut = True") == "cut = True"  # a stop cut the fence
