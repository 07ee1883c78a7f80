"""How each benchmark words a multiple-choice question, as data: VLMEvalKit's
`build_prompt` text for that benchmark, byte for byte.

A style is a body around the question and the option lines, and the form of one line;
`render` fills it. The texts (`open-compass/VLMEvalKit@19c0e38:vlmeval/dataset/`):
- `vlmevalkit` — `ImageMCQDataset.build_prompt` (`image_mcq.py:197-232`), used by HR-Bench
  and V*: "Question: …\\nOptions:\\nA. …\\n…Please select the correct answer from the
  options above. \\n" (note the space before the last newline);
- `treebench` — `TreeBench.build_prompt` (`image_mcq.py:2557-2602`), the same with
  "Answer with the correct option's letter directly. \\n";
- `mme-realworld` / `mme-realworld-cn` — `MMERealWorld.build_prompt` and `SYS`
  (`image_mcq.py:856-1012`): the question, a space, "The choices are listed below:" (CN
  "选项如下所示:"), the options "(A) …" one per line, then the instruction ending in "The
  best answer is:" (CN "最佳答案为："); MME-RealWorld-Lite uses the English one.
A case without options is asked with its question alone (the documented default for
VisualProbe and the search benchmarks, whose prompts are the bare question). VLMEvalKit's
optional "Hint: …" line is not reproduced (no benchmark of the R1V4 table has hints).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROMPT_STYLES", "PromptStyle", "render"]


@dataclass(frozen=True)
class PromptStyle:
    """`body` holds {question} and {options} (the lines joined by newlines); `line` holds
    {letter} and {text}."""

    body: str
    line: str = "{letter}. {text}"


_MME_EN = (
    "Select the best answer to the above multiple-choice question based on the image. "
    "Respond with only the letter (A, B, C, D, or E) of the correct option. \n"
    "The best answer is:"
)
_MME_CN = (
    "根据图像选择上述多项选择题的最佳答案。"
    "只需回答正确选项的字母（A, B, C, D 或 E）。\n"
    "最佳答案为："
)

PROMPT_STYLES: dict[str, PromptStyle] = {
    "vlmevalkit": PromptStyle(
        "Question: {question}\nOptions:\n{options}\n"
        "Please select the correct answer from the options above. \n"
    ),
    "treebench": PromptStyle(
        "Question: {question}\nOptions:\n{options}\n"
        "Answer with the correct option's letter directly. \n"
    ),
    "mme-realworld": PromptStyle(
        "{question} The choices are listed below:\n{options}\n" + _MME_EN, "({letter}) {text}"
    ),
    "mme-realworld-cn": PromptStyle(
        "{question} 选项如下所示:\n{options}\n" + _MME_CN, "({letter}) {text}"
    ),
}


def render(question: str, options: dict[str, str] | None, style: str) -> str:
    """The text a benchmark's case is asked with (`options` as letters → texts)."""
    if not options:
        return question
    chosen = PROMPT_STYLES[style]
    lines = "\n".join(chosen.line.format(letter=k, text=v) for k, v in options.items())
    return chosen.body.format(question=question, options=lines)
