"""`florenz pretrain decoder`: language-model pre-training of a size's decoder on the world's text corpus.

The paper's decoders differ in how multilingual they are before the VLM stage: Florence-2's BART decoder is
near-monolingual (initial unseen-captioning loss T ≈ 10.4), Gemma-2 multilingual (T ≈ 6.0). On the world
the two kinds of starting point come from one recipe with different corpora: `--langs en` gives the
near-monolingual variant ("A"), `--langs all` the multilingual one ("B"). Training is the trainer's own LM
mode (`florenz train --mode lm`: decoder only, cross-attention skipped and left untouched); this module only
checks the inputs, fixes the recipe and records what `florenz init` must verify in `decoder_pretraining.json`:
the languages, the world's manifest and tokenizer hashes, and the decoder's size. An interrupted run resumes;
rerunning a finished one with the same settings does nothing, with other settings it is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from florenz.config import to_dict
from florenz.data.tokenizer import load_tokenizer
from florenz.data.world import read_world
from florenz.errors import FlorenzError
from florenz.files import nothing_to_do, read_json, write_json_atomically
from florenz.model.sizes import get_size
from florenz.pretrain.config import DECODER_METADATA, DecoderPretrainConfig, already_made, corpus_languages
from florenz.train.command import progress_bar
from florenz.train.config import OptimConfig, TrainConfig
from florenz.train.loop import train
from florenz.train.metrics import METRICS_FILE, read_metrics

DECODER_MODEL_TYPE = "florenz-decoder-pretraining"


def train_config(config: DecoderPretrainConfig) -> TrainConfig:
    """The trainer run that pre-trains the decoder (LM mode)."""
    return TrainConfig(
        data=config.world, out=config.out, size=config.size, mode="lm",
        langs=",".join(corpus_languages(config.langs)), samples=config.samples, batch_size=config.batch_size,
        precision=config.precision, seed=config.seed, save_every=100, log_every=10,
        optim=OptimConfig(lr=config.lr, warmup_steps=config.warmup_steps))


def _check_inputs(config: DecoderPretrainConfig) -> dict[str, Any]:
    """Everything that can be wrong with the world or the size, checked before anything is written."""
    world = read_world(config.world)
    langs = corpus_languages(config.langs)
    missing = [lang for lang in langs if not (world.path / "corpus" / f"{lang}.txt").is_file()]
    if missing:
        raise FlorenzError(f"decoder pre-training on languages {list(langs)} needs world {world.path}'s "
                           f"text corpus, but corpus/{{{','.join(missing)}}}.txt is missing; rebuild the "
                           f"world with `florenz world build` (it writes corpus/<lang>.txt) or choose other "
                           f"--langs")
    vocabulary = load_tokenizer(world.path).get_vocab_size()
    decoder_vocabulary = get_size(config.size).decoder.vocab_size
    if vocabulary > decoder_vocabulary:
        raise FlorenzError(f"world {world.path}'s tokenizer has {vocabulary} entries but size "
                           f"{config.size}'s decoder vocabulary has {decoder_vocabulary}; build the world "
                           f"with --vocab-size {decoder_vocabulary} or less, or choose a size with a larger "
                           f"vocabulary")
    return {"path": str(world.path), "manifest_sha256": world.manifest_sha256,
            "tokenizer_sha256": world.tokenizer_sha256(), "vocab_size": vocabulary}


def read_decoder_metadata(run_dir: str | Path) -> dict[str, Any]:
    """decoder_pretraining.json of a finished `florenz pretrain decoder` run."""
    path = Path(run_dir) / DECODER_METADATA
    if not path.is_file():
        raise FlorenzError(f"{run_dir} is not a finished decoder pre-training run (no {DECODER_METADATA}); "
                           f"make one with `florenz pretrain decoder --out {run_dir}` (an interrupted one "
                           f"resumes)")
    return read_json(path, f"rerun `florenz pretrain decoder --out {run_dir}` to write it again")


def pretrain_decoder(config: DecoderPretrainConfig) -> Path:
    """Pre-train the decoder of `config.size` as a language model on the world's corpus in `config.langs`."""
    world = _check_inputs(config)
    out = Path(config.out)
    recipe = {key: value for key, value in to_dict(config).items() if key not in ("world", "out")}
    settings = {"world_manifest_sha256": world["manifest_sha256"], **recipe}
    if already_made(out, DECODER_METADATA, DECODER_MODEL_TYPE, settings, False,
                    "choose another --out (a finished pre-training is never replaced)"):
        print(nothing_to_do("pretrain decoder", out, "the same settings"))
        return out
    with progress_bar("pretrain decoder", config.batch_size) as on_step:
        result = train(train_config(config), on_step)
    rows = read_metrics(out / METRICS_FILE)
    metadata = {
        "model_type": DECODER_MODEL_TYPE,
        "size": config.size,
        "langs": list(corpus_languages(config.langs)),
        "world": world,
        "pretraining": recipe,
        "settings": settings,
        "seen_samples": result.seen_samples,
        "final_loss": rows[-1]["loss"] if rows else None,
        "samples_per_s": rows[-1].get("samples_per_s") if rows else None,
    }
    write_json_atomically(out / DECODER_METADATA, metadata)  # written last: it marks the run as usable
    print(f"florenz pretrain decoder: {config.size} on {world['path']}, corpus "
          f"{','.join(metadata['langs'])}: {result.seen_samples} lines, final loss "
          f"{metadata['final_loss']:.3f} -> {out}")
    return out
