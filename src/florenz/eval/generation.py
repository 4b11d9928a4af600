"""Captions and translations from a trained model: prompts, images, batching, prefixes, decoding to text.

`Predictor` wraps `florenz.model.generate` (greedy or beam search with a KV cache) for users and benchmarks:
one call per language (the forced prefix is per call), inputs in batches of `batch_size`, every decoding
setting from `GenerationConfig`. The zero-shot language prefix (reference §6.3) is forced after the
decoder start token as `<bos>` + its pieces; what is scored is only the continuation with its first letter
upper-cased, as in the paper, while `Generated.full` keeps the whole sentence. Empty and cut-off outputs
are ordinary results (`text == ""`, `finished == False`), never errors.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from florenz.data.collate import EncodedSample, collate, image_to_tensor, truncate
from florenz.data.prompts import build_prompt
from florenz.data.tokenizer import encode_text, load_tokenizer
from florenz.errors import FlorenzError
from florenz.eval.config import GenerationConfig
from florenz.eval.losses import sample_losses
from florenz.files import read_json
from florenz.model.florenz import FlorenzModel
from florenz.model.generation import generate
from florenz.train.device import pick_device
from florenz.world.languages import CAPTION_PREFIXES
from florenz.world.realise.common import capitalise

# The world's Russian prefix is the neutral "На картинке" (its participle изображен/а/о/ы agrees with the noun
# that follows); the "paper" set keeps the paper's masculine phrase, wrong for most scenes.
PREFIX_SETS = {"paper": {**CAPTION_PREFIXES, "ru": "На картинке изображен"}, "world": CAPTION_PREFIXES}
TRAIN_CONFIG = "train_config.json"  # written by `florenz train` beside the model

ImageInput = bytes | str | Path | Image.Image  # encoded bytes, a file path or a PIL image


@dataclass
class Generated:
    """One output: `text` is what gets scored, `full` what the decoder wrote including the prefix."""

    text: str  # the continuation after the prefix, first letter upper-cased (reference §6.2)
    full: str  # prefix and continuation as one sentence
    prefix: str  # the forced prefix, "" without one
    finished: bool  # False when max_new_tokens cut the output off before <eos>


def load_image(image: ImageInput) -> Image.Image:
    """A PIL image from bytes, a path or a PIL image; a missing or unreadable file names itself."""
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise FlorenzError(f"image {path} does not exist; pass an existing PNG or JPEG file")
        image = path.read_bytes()
        where = str(path)
    else:
        where = "the image bytes"
    try:
        picture = Image.open(io.BytesIO(image))
        picture.load()
    except (UnidentifiedImageError, OSError) as error:
        raise FlorenzError(f"{where} is not a readable image ({error}); pass a PNG or JPEG file") from None
    return picture


def run_tokenizer_path(run: str | Path, tokenizer: str = "") -> Path:
    """The tokenizer a run was trained with: `tokenizer` if given, else its train_config.json's data."""
    if tokenizer:
        return Path(tokenizer)
    train_config = Path(run) / TRAIN_CONFIG
    if not train_config.is_file():
        raise FlorenzError(f"{run} has no {TRAIN_CONFIG} saying which tokenizer it was trained with; pass "
                           "--tokenizer (a world directory or a tokenizer.json)")
    config = read_json(train_config, "pass --tokenizer instead")
    return Path(config.get("loader", {}).get("tokenizer") or config.get("data", ""))


class Predictor:
    """A model, its tokenizer and the decoding settings; captions, translations and target losses."""

    def __init__(self, model: FlorenzModel, tokenizer: Any, settings: GenerationConfig) -> None:
        vocabulary = tokenizer.get_vocab_size()
        if vocabulary > model.config.decoder.vocab_size:
            raise FlorenzError(f"the tokenizer has {vocabulary} entries but the model's decoder vocabulary "
                               f"has {model.config.decoder.vocab_size}; pass the tokenizer the model was "
                               "trained with (--tokenizer)")
        self.model, self.tokenizer, self.settings = model.eval(), tokenizer, settings
        self.device = next(model.parameters()).device
        self.bos_id = tokenizer.token_to_id("<bos>")

    @classmethod
    def from_run(cls, run: str | Path, settings: GenerationConfig, tokenizer: str = "") -> Predictor:
        """Load RUN's model (on settings.device) and the tokenizer it was trained with."""
        if not (Path(run) / "config.json").is_file():
            raise FlorenzError(f"{run} is not a model directory (no config.json); pass a run directory "
                               "written by `florenz train` or a checkpoint directory")
        if settings.threads:
            torch.set_num_threads(settings.threads)
        model = FlorenzModel.from_pretrained(run).to(pick_device(settings.device))
        return cls(model, load_tokenizer(run_tokenizer_path(run, tokenizer)), settings)

    def prefix_text(self, lang: str) -> str:
        return PREFIX_SETS[self.settings.prefix_set][lang]

    def _prompt_ids(self, prompt: str) -> list[int]:
        return truncate(encode_text(self.tokenizer, prompt), self.settings.max_prompt_tokens)

    def _pixels(self, images: Sequence[ImageInput]) -> torch.Tensor:
        size = self.model.config.image_size
        return torch.stack([image_to_tensor(load_image(image), size) for image in images]).to(self.device)

    def _decode(self, ids: list[int], finished: bool) -> str:
        """Text of byte-level token ids. An output cut off by max_new_tokens may stop inside a multi-byte
        character, whose bytes alone decode to U+FFFD: that half character is dropped. Anywhere else U+FFFD
        stays, as it is what the model wrote (bytes that are not UTF-8)."""
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return (text if finished else text.rstrip("\ufffd")).strip()

    def _generate(self, images: Sequence[ImageInput], prompts: list[str], prefix: str,
                  on_batch: Callable[[int], None] | None) -> list[Generated]:
        prefix_pieces = self.tokenizer.encode(prefix, add_special_tokens=False).ids if prefix else []
        pad_id = self.model.config.encoder.pad_token_id
        outputs: list[Generated] = []
        size = self.settings.batch_size
        for start in range(0, len(prompts), size):
            prompt_ids = [self._prompt_ids(prompt) for prompt in prompts[start:start + size]]
            width = max(len(ids) for ids in prompt_ids)
            input_ids = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids in prompt_ids],
                                     device=self.device)  # (B, L)
            attention_mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in prompt_ids],
                                          device=self.device)  # (B, L)
            continuations = generate(
                self.model, self._pixels(images[start:start + len(prompt_ids)]), input_ids, attention_mask,
                max_new_tokens=self.settings.max_new_tokens, num_beams=self.settings.beam,
                prefix_ids=[self.bos_id, *prefix_pieces] if prefix else None,
                use_cache=self.settings.use_cache, no_repeat_ngram_size=self.settings.no_repeat_ngram_size,
                length_penalty=self.settings.length_penalty)
            for continuation in continuations:
                finished = len(continuation) < self.settings.max_new_tokens
                text = self._decode(continuation, finished)
                full = self._decode(prefix_pieces + continuation, finished)
                outputs.append(Generated(capitalise(text), full, prefix, finished))
            if on_batch is not None:
                on_batch(len(prompt_ids))
        return outputs

    def caption(self, images: Sequence[ImageInput], lang: str, detail: str = "short", prefix: bool = False,
                on_batch: Callable[[int], None] | None = None) -> list[Generated]:
        """One caption per image in `lang`; with `prefix` the decoder starts from the language's prefix."""
        prompt = build_prompt("caption", lang, detail)
        return self._generate(images, [prompt] * len(images), self.prefix_text(lang) if prefix else "",
                              on_batch)

    def translate(self, sources: Sequence[str], lang: str, images: Sequence[ImageInput] | None = None,
                  on_batch: Callable[[int], None] | None = None) -> list[Generated]:
        """English `sources` translated into `lang`, each seeing its image (None: blank white images)."""
        if images is None:
            size = self.model.config.image_size
            images = [Image.new("RGB", (size, size), "white")] * len(sources)
        prompts = [build_prompt("translation", lang, source=source) for source in sources]
        return self._generate(images, prompts, "", on_batch)

    @torch.inference_mode()
    def translation_losses(self, sources: Sequence[str], targets: Sequence[str], lang: str,
                           images: Sequence[ImageInput]) -> list[float]:
        """Mean token cross-entropy of each target (<bos> and <eos> included) given image and source:
        the per-sample log-perplexity the reference compares in CoMMuTE (§6.4)."""
        config = self.model.config
        batch_collate = partial(collate, prompt_pad_token_id=config.encoder.pad_token_id,
                                decoder_start_token_id=config.decoder_start_token_id,
                                target_pad_token_id=config.pad_token_id)
        losses: list[float] = []
        size = self.settings.batch_size
        for start in range(0, len(sources), size):
            pixels = self._pixels(images[start:start + size]).cpu()
            samples = [EncodedSample(self._prompt_ids(build_prompt("translation", lang, source=source)),
                                     encode_text(self.tokenizer, target), pixel_values)
                       for source, target, pixel_values in zip(sources[start:start + size],
                                                               targets[start:start + size], pixels)]
            losses += sample_losses(self.model, batch_collate(samples)).tolist()
        return losses
