import pytest

from florenz.data.prompts import build_prompt


@pytest.mark.parametrize("task, lang, detail, source, expected", [
    ("caption", "fr", "short", None, "The target language is French. What does the image describe?"),
    ("caption", "en", "detailed", None,
     "The target language is English. Describe in detail what is shown in the image."),
    ("caption", "de", "paragraph", None,
     "The target language is German. Describe with a paragraph what is shown in the image."),
    ("caption", "zh", "short", None,
     "The target language is simplified Chinese. What does the image describe?"),
    ("translation", "ru", "short", "A red circle.",
     "The target language is Russian. Translate the following text: A red circle."),
    ("translation", "es", "paragraph", "Two stars.",
     "The target language is Spanish. Translate the following text: Two stars."),
])
def test_prompts_are_the_reference_strings(task, lang, detail, source, expected):
    assert build_prompt(task, lang, detail, source) == expected


@pytest.mark.parametrize("kwargs, named", [
    ({"task": "caption", "lang": "it"}, "'it'"),
    ({"task": "caption", "lang": "en", "detail": "long"}, "'long'"),
    ({"task": "ocr", "lang": "en"}, "'ocr'"),
    ({"task": "translation", "lang": "de"}, "source"),
    ({"task": "caption", "lang": "de", "source": "x"}, "source"),
])
def test_bad_prompt_requests_raise_value_errors(kwargs, named):
    with pytest.raises(ValueError, match=named):
        build_prompt(**kwargs)
