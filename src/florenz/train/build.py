"""Everything a run is built from: the model (fresh, from --init, or from a checkpoint) and its batches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from torch import nn

from florenz.config import ConfigError
from florenz.data.collate import EncodedSample, collate
from florenz.data.coverage import DEFAULT_COVERAGE, parse_coverage
from florenz.data.loader import (
    AnnotationBalancer,
    CorpusStream,
    ShardStream,
    Step,
    encode_annotation,
    encode_text_sample,
    prefetch,
    rank_steps,
    target_distribution,
)
from florenz.data.shards import check_shards, list_shards
from florenz.data.tokenizer import load_tokenizer
from florenz.errors import FlorenzError
from florenz.files import read_json, sha256_of_file
from florenz.model.accounting import apply_freezing
from florenz.model.config import ModelConfig
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size
from florenz.train.config import TrainConfig
from florenz.world.languages import LANGUAGES

DEFAULT_SIZE = "world-xxs"  # trained when neither --size nor --init is given
# Files of earlier verbs that record the tokenizer a checkpoint was trained with: this trainer's own
# (trainer_state.json: data_identity) and `florenz pretrain decoder`'s (decoder_pretraining.json: world).
TOKENIZER_RECORDS = (("trainer_state.json", "data_identity"), ("decoder_pretraining.json", "world"))
STARTING_POINT = "starting_point.json"  # `florenz init`'s record: its decoder's run holds the tokenizer hash

def _set_image_size(model_config: ModelConfig, image_size: int) -> None:
    if not image_size or image_size == model_config.image_size:
        return
    vision = model_config.vision
    if image_size % vision.total_stride or image_size // vision.total_stride > vision.max_grid_side:
        largest = vision.total_stride * vision.max_grid_side
        raise ConfigError(f"--image-size {image_size} does not fit the vision tower: use a multiple of its "
                          f"stride {vision.total_stride} of at most {largest}")
    model_config.image_size = image_size


def build_model(config: TrainConfig, checkpoint: Path | None, vocab_size: int) -> FlorenzModel:
    """The model to train: from a resumable checkpoint, else from --init, else fresh from --size."""
    source = checkpoint or (Path(config.init) if config.init else None)
    if source is not None:
        model = FlorenzModel.from_pretrained(source)
        if checkpoint is None:
            _set_image_size(model.config, config.image_size)
    else:
        model_config = get_size(config.size or DEFAULT_SIZE)
        _set_image_size(model_config, config.image_size)
        model = FlorenzModel(model_config)
    model_vocab = min(model.config.encoder.vocab_size, model.config.decoder.vocab_size)
    if vocab_size > model_vocab:
        raise ConfigError(f"the tokenizer has {vocab_size} entries but the model's vocabulary has "
                          f"{model_vocab}; use the tokenizer the model was built for (--loader.tokenizer) or "
                          "a matching size")
    return model


def set_trainable(model: nn.Module, config: TrainConfig) -> nn.Module:
    """Apply the freezing policy and return the module the optimizer and the wrapper work on."""
    model.train()
    if config.mode == "vlm":
        apply_freezing(model, train_vision=config.train_vision)
        return model
    # LM pre-training (no encoder) trains the decoder but not what only cross-attention uses
    model.requires_grad_(False)
    cross_attention = set(model.decoder.cross_attention_parameter_names())
    for name, parameter in model.decoder.named_parameters():
        parameter.requires_grad_(name not in cross_attention)
    return model.decoder


def _coverage_keys(config: TrainConfig) -> tuple[list[str], bool]:
    """Training categories and whether they narrow the data on purpose (an explicit --loader.coverage)."""
    if config.loader.coverage:
        return list(parse_coverage(config.loader.coverage).keys()), True
    manifest = Path(config.data) / "manifest.json"
    if manifest.is_file():
        coverage = json.loads(manifest.read_text(encoding="utf-8")).get("coverage")
        if isinstance(coverage, dict):  # {task: [langs]}: the spec text form is "task:l1,l2;..."
            coverage = ";".join(f"{task}:{','.join(langs)}" for task, langs in coverage.items())
        if coverage:
            return list(parse_coverage(coverage).keys()), False
    return list(DEFAULT_COVERAGE.keys()), False


def corpus_paths(config: TrainConfig) -> list[Path]:
    requested = tuple(filter(None, map(str.strip, config.langs.split(","))))
    langs = LANGUAGES if config.langs == "all" else requested
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown or not langs:
        raise ConfigError(f"--langs {config.langs!r}: unknown language(s) {unknown}; use 'all' or codes from "
                          f"{', '.join(LANGUAGES)}")
    paths = [Path(config.data) / "corpus" / f"{lang}.txt" for lang in langs]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FlorenzError(f"LM corpora {missing} do not exist; build the world (florenz world build) or "
                           "choose other --langs")
    return paths


def build_steps(config: TrainConfig, model_config: ModelConfig, data_state: dict | None,
                micro_batch_size: int, rank: int, world_size: int) -> Iterator[Step]:
    """This rank's micro-batches per optimizer step, continuing from `data_state` (None: the start)."""
    loader = config.loader
    data_dir = Path(config.data)
    tokenizer = load_tokenizer(loader.tokenizer or data_dir)
    prompt_tokenizer = load_tokenizer(loader.prompt_tokenizer) if loader.prompt_tokenizer else tokenizer
    if config.mode == "lm":
        stream = CorpusStream(corpus_paths(config), config.seed, data_state)
        encode = partial(encode_text_sample, tokenizer=tokenizer, max_target_tokens=loader.max_target_tokens)
    else:
        categories, narrowed = _coverage_keys(config)
        balancer = AnnotationBalancer(target_distribution(loader.balance, categories), config.seed, narrowed)
        stream = ShardStream(list_shards(data_dir / loader.split), balancer, config.seed, data_state)

        def encode(item: tuple[bytes, dict, str]) -> EncodedSample:
            return encode_annotation(item[0], item[1], model_config.image_size, tokenizer, prompt_tokenizer,
                                     loader.max_prompt_tokens, loader.max_target_tokens, where=item[2])
    batch_collate = partial(collate, prompt_pad_token_id=model_config.encoder.pad_token_id,
                            decoder_start_token_id=model_config.decoder_start_token_id,
                            target_pad_token_id=model_config.pad_token_id,
                            pad_to_multiple_of=loader.pad_to_multiple)
    # under the token-mean loss, grouping by length changes only the padding, never the step's gradient
    steps = rank_steps(stream, encode, batch_collate, config.batch_size, micro_batch_size, rank, world_size,
                       config.skip_bad_samples, group_by_length=config.loss_reduction == "token")
    return prefetch(steps, loader.prefetch_steps)


def tokenizer_size(config: TrainConfig) -> int:
    return load_tokenizer(config.loader.tokenizer or Path(config.data)).get_vocab_size()


# --- start-up checks: everything that can be wrong is found before the run directory is written ----------

def resolve_size(config: TrainConfig) -> str:
    """The size this run trains: --init's own (a contradicting --size is refused), else --size, else the
    default."""
    if not config.init:
        get_size(config.size or DEFAULT_SIZE)  # an unknown size is a ConfigError listing the ladder
        return config.size or DEFAULT_SIZE
    init_config = Path(config.init) / "config.json"
    if not init_config.is_file():
        raise FlorenzError(f"--init {config.init} holds no config.json; pass a checkpoint directory (from "
                           f"`florenz init`, `florenz prepare` or a finished `florenz train` run)")
    own = read_json(init_config, "pass another --init or re-save that checkpoint").get("name", "custom")
    if config.size and config.size != own:
        raise ConfigError(f"--size {config.size} contradicts --init {config.init}, a checkpoint of size "
                          f"{own}; drop --size (the checkpoint's own size is trained)")
    return own


def _tokenizer_file(config: TrainConfig) -> Path:
    given = Path(config.loader.tokenizer or config.data)
    path = given / "tokenizer.json" if given.is_dir() else given
    if not path.is_file():
        flag = "--loader.tokenizer" if config.loader.tokenizer else f"--data {config.data}"
        raise FlorenzError(f"the tokenizer {path} does not exist; {flag} must hold tokenizer.json (a world "
                           f"built by `florenz world build` does), or give one with --loader.tokenizer")
    return path


def check_data(config: TrainConfig) -> tuple[dict[str, str | None], str | None]:
    """The data's identity (sha256 of its manifest and of the tokenizer) and a note on the shard check;
    FlorenzError naming what is missing or does not match the manifest."""
    data_dir = Path(config.data)
    if not data_dir.is_dir():
        raise FlorenzError(f"--data {data_dir} does not exist; build a world there (`florenz world build "
                           f"--out {data_dir}`) or point --data at a data directory")
    note = None
    if config.mode == "lm":
        corpus_paths(config)
    else:
        shards = list_shards(data_dir / config.loader.split)
        if not shards:
            raise FlorenzError(f"{data_dir / config.loader.split} holds no training shards (*.tar); build a "
                               f"world with `florenz world build` or fix --data / --loader.split")
        note = check_shards(data_dir, config.loader.split, shards, config.verify_data)
    manifest = data_dir / "manifest.json"
    identity = {"manifest_sha256": sha256_of_file(manifest) if manifest.is_file() else None,
                "tokenizer_sha256": sha256_of_file(_tokenizer_file(config))}
    return identity, note


def recorded_tokenizer_sha256(checkpoint: Path) -> str | None:
    """The sha256 of the tokenizer `checkpoint` was trained with, if a verb recorded it (None otherwise)."""
    for name, section in TOKENIZER_RECORDS:
        if (checkpoint / name).is_file():
            recorded = read_json(checkpoint / name, "restore it or pass another --init").get(section) or {}
            if recorded.get("tokenizer_sha256"):
                return recorded["tokenizer_sha256"]
    if (checkpoint / STARTING_POINT).is_file():
        parts = read_json(checkpoint / STARTING_POINT, "rerun `florenz init`")
        decoder = parts.get("decoder", {}).get("path")
        if decoder and Path(decoder).is_dir():
            return recorded_tokenizer_sha256(Path(decoder))
    return None


def check_init_tokenizer(config: TrainConfig, tokenizer_sha256: str) -> None:
    """Refuse an --init trained with another tokenizer: the same ids would mean other words."""
    if not config.init:
        return
    recorded = recorded_tokenizer_sha256(Path(config.init))
    if recorded is not None and recorded != tokenizer_sha256:
        raise FlorenzError(f"--init {config.init} was trained with another tokenizer (sha256 "
                           f"{recorded[:12]}) than this run's ({tokenizer_sha256[:12]}, "
                           f"{_tokenizer_file(config)}): the same ids would mean other words. Train on the "
                           f"data it was built for, or build the starting point on {config.data}")
