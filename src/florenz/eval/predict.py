"""`florenz caption` and `florenz translate`: print what a trained model says about images and texts."""

from __future__ import annotations

from florenz.eval.config import CaptionConfig, TranslateConfig
from florenz.eval.generation import Generated, Predictor


def _show(name: str, output: Generated) -> None:
    """One line per output; with a prefix also the continuation alone (what a benchmark scores)."""
    cut = "" if output.finished else "  [cut off at max_new_tokens]"
    if output.prefix:
        print(f"{name}\t{output.full}\t(continuation: {output.text}){cut}")
    else:
        print(f"{name}\t{output.text}{cut}")


def caption(config: CaptionConfig) -> int:
    """Print one caption per image, in the order given."""
    predictor = Predictor.from_run(config.run, config, config.tokenizer)
    outputs = predictor.caption(list(config.images), config.lang, config.detail, config.prefix)
    for image, output in zip(config.images, outputs):
        _show(image, output)
    return 0


def translate(config: TranslateConfig) -> int:
    """Print the translation of one English text."""
    predictor = Predictor.from_run(config.run, config, config.tokenizer)
    [output] = predictor.translate([config.text], config.lang, [config.image] if config.image else None)
    _show(config.lang, output)
    return 0
