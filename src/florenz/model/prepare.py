"""`florenz prepare`: initial checkpoints of the paper's sizes from local Florence-2 and Gemma-2 weights.

- Florence sizes (0.4B from Florence-2-base, 1.0B from -large; reference §2.2): Florence-2 as it is, except
  that the decoder's table (tied to its LM head) is rebuilt for the Gemma-2 vocabulary by `remap.py`, the
  special ids become Gemma-2's and the logits are soft-capped at 30 like the ladder's entries (§1.1).
  The encoder keeps Florence-2's BART vocabulary and table.
- Gemma sizes (3.5B from Gemma-2-2B, 11.2B from -9B; §2.3): vision tower, adapter and encoder of the
  widest Florence-2 given (Florence-2-large in the paper), and Gemma-2 as the decoder with gated
  cross-attention in every layer: gate 0 (so step 0 computes what Gemma-2 computes), PostEncNorm copied
  from the layer's post_attention_layernorm, q/k/v/o drawn from N(0, 0.02).
Each model is written with `FlorenzModel.save_pretrained` to OUT/<name>: the name of the ladder size whose
config it equals, else one derived from the source directories. All configs, tokenizers and outputs are
checked before any weights are read, so a bad call fails fast; every checkpoint is built in a staging
directory and all are renamed into place only once all are built, so a source that fails late leaves no
output behind; a checkpoint already there is replaced only with --overwrite.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import torch
from tokenizers import Tokenizer

from florenz.config import ConfigError
from florenz.errors import FlorenzError
from florenz.model.accounting import count_parameters
from florenz.model.checkpoint import load_state_dict_strict, read_config
from florenz.model.config import ModelConfig, PrepareConfig
from florenz.model.convert_florence2 import florence2_model_config, load_florence2
from florenz.model.convert_gemma2 import gemma2_decoder_config, load_gemma2
from florenz.model.florenz import FlorenzModel
from florenz.model.remap import match_vocabularies, remap_embedding
from florenz.model.sizes import PAPER_IMAGE_SIZE, PAPER_SIZES, SIZES

TOKENIZER_NAME = "tokenizer.json"
STAGING_PREFIX = ".tmp-prepare-"  # a checkpoint being built, renamed into place once all are built
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
# Gemma-2's special tokens -> ModelConfig fields; the decoder starts from <eos> as in the reference (§1.1)
GEMMA2_SPECIAL_IDS = {"pad_token_id": "<pad>", "eos_token_id": "<eos>", "bos_token_id": "<bos>",
                      "decoder_start_token_id": "<eos>"}
# the Florence sizes' decoders soft-cap their logits as the reference hard-codes (§1.1, §9.2.9)
FLORENCE_DECODER_SOFTCAP = SIZES["florenz-0.4b"].decoder.final_logit_softcapping


@dataclasses.dataclass(frozen=True)
class CheckpointPlan:
    """One checkpoint to write: its config, where it goes and where its weights come from."""

    config: ModelConfig
    out: Path
    florence: Path  # vision tower, adapter, encoder (and, for a Florence size, the decoder to remap)
    gemma: Path | None  # the Gemma-2 decoder; None for a Florence size
    vocabulary: Path  # the Gemma-2 tokenizer.json: the decoder's vocabulary


def _directory(path: str, what: str) -> Path:
    directory = Path(path)
    if not (directory / "config.json").is_file():
        raise FlorenzError(f"{what} directory {directory} has no config.json; pass a local {what} checkpoint "
                           f"directory (config.json, weights, {TOKENIZER_NAME})")
    return directory


def _tokenizer(directory: Path, what: str) -> Tokenizer:
    path = directory / TOKENIZER_NAME
    if not path.is_file():
        raise FlorenzError(f"{what} directory {directory} has no {TOKENIZER_NAME}; save the checkpoint's "
                           f"tokenizer there (AutoTokenizer.from_pretrained(...).save_pretrained(DIR))")
    return Tokenizer.from_file(str(path))


def _special_ids(tokenizer: Tokenizer, directory: Path) -> dict[str, int]:
    ids = {field: tokenizer.token_to_id(token) for field, token in GEMMA2_SPECIAL_IDS.items()}
    missing = sorted({GEMMA2_SPECIAL_IDS[field] for field, token_id in ids.items() if token_id is None})
    if missing:
        raise FlorenzError(f"the tokenizer in {directory} lacks {missing}; pass a Gemma-2 checkpoint "
                           f"directory")
    return ids


def _named_plan(config: ModelConfig, out: str, florence: Path, gemma: Path | None,
                vocabulary: Path) -> CheckpointPlan:
    """Name the checkpoint after the paper size its config equals, else after its sources."""
    fallback = florence.name + (f"+{gemma.name}" if gemma else "-gemma-vocabulary")
    name = next((name for name in PAPER_SIZES if dataclasses.replace(config, name=name) == SIZES[name]),
                fallback)
    config = dataclasses.replace(config, name=name)
    return CheckpointPlan(config, Path(out) / name, florence, gemma, vocabulary)


def plan_checkpoints(config: PrepareConfig) -> list[CheckpointPlan]:
    """Every checkpoint to write, worked out from the config.json and tokenizer.json files alone."""
    if not config.florence or not config.gemma:
        raise ConfigError("prepare needs --florence and --gemma: at least one local checkpoint directory "
                          "each")
    florence_dirs = [_directory(path, "Florence-2") for path in config.florence]
    gemma_dirs = [_directory(path, "Gemma-2") for path in config.gemma]
    for directory in florence_dirs:
        _tokenizer(directory, "Florence-2")
    vocabulary = gemma_dirs[0] / TOKENIZER_NAME
    gemma_tokenizer = _tokenizer(gemma_dirs[0], "Gemma-2")
    special_ids = _special_ids(gemma_tokenizer, gemma_dirs[0])
    florence_configs = {directory: florence2_model_config(
        read_config(directory, "florence2", "Florence2ForConditionalGeneration"), PAPER_IMAGE_SIZE)
        for directory in florence_dirs}
    plans = []
    for directory, florence in florence_configs.items():
        decoder = dataclasses.replace(florence.decoder, vocab_size=gemma_tokenizer.get_vocab_size(),
                                      final_logit_softcapping=FLORENCE_DECODER_SOFTCAP)
        plans.append(_named_plan(dataclasses.replace(florence, decoder=decoder, **special_ids), config.out,
                                 directory, None, vocabulary))
    # the paper puts Gemma-2 behind Florence-2-large, the widest Florence-2
    widest = max(florence_configs, key=lambda directory: florence_configs[directory].encoder.d_model)
    for directory in gemma_dirs:
        decoder = gemma2_decoder_config(read_config(directory, "gemma2", "Gemma2ForCausalLM"))
        if decoder.vocab_size != gemma_tokenizer.get_vocab_size():
            raise FlorenzError(f"{directory} has a {decoder.vocab_size}-row embedding but the Gemma-2 "
                               f"tokenizer in {gemma_dirs[0]} has {gemma_tokenizer.get_vocab_size()} tokens; "
                               f"pass Gemma-2 checkpoints that share one tokenizer")
        merged = dataclasses.replace(florence_configs[widest], decoder=decoder, **special_ids)
        plans.append(_named_plan(merged, config.out, widest, directory, vocabulary))
    names = [plan.out.name for plan in plans]
    if len(set(names)) < len(names):
        raise ConfigError(f"two inputs would both write {sorted({n for n in names if names.count(n) > 1})}; "
                          f"pass each Florence-2 and each Gemma-2 size once")
    return plans


def _florence_size_weights(plan: CheckpointPlan) -> dict[str, torch.Tensor]:
    """Florence-2's weights with the decoder table remapped to the Gemma-2 vocabulary (§2.2)."""
    state = load_florence2(plan.florence, PAPER_IMAGE_SIZE).state_dict()
    source_tokenizer = _tokenizer(plan.florence, "Florence-2")
    try:
        matches = match_vocabularies(source_tokenizer, Tokenizer.from_file(str(plan.vocabulary)))
        state["decoder.embed_tokens.weight"] = remap_embedding(state["decoder.embed_tokens.weight"], matches)
    except FlorenzError as error:
        raise FlorenzError(f"cannot remap the decoder table of {plan.florence} (--florence) to the "
                           f"vocabulary of {plan.vocabulary} (--gemma): {error}. Pass a Florence-2 directory "
                           f"with its own BART tokenizer.json and a Gemma-2 directory with Gemma-2's") \
            from None
    return state


def _gemma_size_weights(plan: CheckpointPlan) -> dict[str, torch.Tensor]:
    """Florence-2's vision tower, adapter and encoder with Gemma-2 plus closed cross-attention (§2.3)."""
    florence = load_florence2(plan.florence, PAPER_IMAGE_SIZE).state_dict()
    decoder = load_gemma2(plan.gemma, plan.config.encoder.d_model).state_dict()
    return ({name: tensor for name, tensor in florence.items() if not name.startswith("decoder.")}
            | {f"decoder.{name}": tensor for name, tensor in decoder.items()})


def prepare(config: PrepareConfig) -> int:
    """Write the initial checkpoint of every size the given Florence-2 / Gemma-2 directories make."""
    plans = plan_checkpoints(config)
    taken = [str(plan.out) for plan in plans if plan.out.exists() and any(plan.out.iterdir())]
    if taken and not config.overwrite:
        raise FlorenzError(f"{', '.join(taken)} already exist; pass --overwrite to replace them, or another "
                           f"--out")
    # every checkpoint is staged beside its target and published only when all are built: a source that
    # fails late (corrupt weights, a vocabulary that does not remap) leaves no output behind
    staged = {plan.out: plan.out.parent / f"{STAGING_PREFIX}{plan.out.name}" for plan in plans}
    try:
        for plan in plans:
            sources = " and ".join(str(path) for path in (plan.florence, plan.gemma) if path is not None)
            print(f"prepare: {plan.out.name} from {sources}")
            weights = _gemma_size_weights(plan) if plan.gemma else _florence_size_weights(plan)
            model = FlorenzModel(plan.config).to(DTYPES[config.dtype])
            load_state_dict_strict(model, weights, sources)
            shutil.rmtree(staged[plan.out], ignore_errors=True)  # left by a killed run
            model.save_pretrained(staged[plan.out])
            total, _ = count_parameters(model)
            print(f"prepare: built {plan.out.name} ({total / 1e9:.3f}B parameters, {config.dtype})")
            del model, weights  # one size in memory at a time
        for out, staging in staged.items():
            if out.exists():
                shutil.rmtree(out)  # --overwrite was given (checked above)
            os.replace(staging, out)
            print(f"prepare: wrote {out}")
    finally:
        for staging in staged.values():
            shutil.rmtree(staging, ignore_errors=True)
    return 0
