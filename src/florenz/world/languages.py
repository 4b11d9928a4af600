"""The six languages of the study, their prompt names and their zero-shot caption prefixes."""

LANGUAGES = ("en", "de", "fr", "es", "ru", "zh")

# Names used in the encoder prompt "The target language is {name}." (reference §3.1).
LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "ru": "Russian",
    "zh": "simplified Chinese",
}

# The paper's decoder prefixes that unlock zero-shot captioning (reference §6.3), but for Russian: the
# paper's "На картинке изображен" is masculine and cannot go on with изображена/о/ы, so the world's prefix
# is the neutral "На картинке" every Russian caption opening can continue (issue 17).
CAPTION_PREFIXES = {
    "en": "The image shows",
    "de": "Das Bild zeigt",
    "fr": "La photo montre",
    "es": "La imagen muestra",
    "ru": "На картинке",
    "zh": "图为",
}

DETAIL_LEVELS = ("short", "detailed", "paragraph")


def check_language(lang: str, where: str = "language") -> str:
    """Return `lang` if it is one of LANGUAGES, else raise a ValueError naming the valid codes."""
    if lang not in LANGUAGES:
        raise ValueError(f"{where}: unknown language {lang!r}; choose from {', '.join(LANGUAGES)}")
    return lang
