"""Encoder prompts: the natural-language task strings of the reference (§3.1).

The target language is stated only here, in front of the task: "The target language is French. What does
the image describe?". The decoder gets no language token.
"""

from __future__ import annotations

from florenz.data.coverage import TASKS
from florenz.world.languages import DETAIL_LEVELS, LANGUAGE_NAMES

# Florence-2's caption prompts by detail level (<CAPTION>, <DETAILED_CAPTION>, <MORE_DETAILED_CAPTION>).
CAPTION_PROMPTS = {
    "short": "What does the image describe?",
    "detailed": "Describe in detail what is shown in the image.",
    "paragraph": "Describe with a paragraph what is shown in the image.",
}
TRANSLATION_PROMPT = "Translate the following text: {source}"


def language_sentence(lang: str) -> str:
    """'The target language is German.' (raises ValueError for an unknown language code)."""
    if lang not in LANGUAGE_NAMES:
        raise ValueError(f"prompt: unknown language {lang!r}; choose from {', '.join(LANGUAGE_NAMES)}")
    return f"The target language is {LANGUAGE_NAMES[lang]}."


def build_prompt(task: str, lang: str, detail: str = "short", source: str | None = None) -> str:
    """The encoder prompt for one annotation; `source` is the English text of a translation."""
    if task == "caption":
        if detail not in DETAIL_LEVELS:
            raise ValueError(f"prompt: unknown detail {detail!r}; choose from {', '.join(DETAIL_LEVELS)}")
        if source is not None:
            raise ValueError("prompt: a caption has no source text; pass source only for translation")
        return f"{language_sentence(lang)} {CAPTION_PROMPTS[detail]}"
    if task == "translation":
        if source is None:
            raise ValueError("prompt: translation needs the English source text (source=...)")
        return f"{language_sentence(lang)} {TRANSLATION_PROMPT.format(source=source)}"
    raise ValueError(f"prompt: unknown task {task!r}; choose from {', '.join(TASKS)}")
