"""`florenz <verb>`: each verb parses flags into one config dataclass and calls one function.

The flags of a verb are generated from its config dataclass (name, type, default, help), so a default
lives in exactly one place. Every verb also takes `--config FILE` (YAML or JSON); flags win over the file.
Config classes are imported eagerly (they are light); the functions that do the work are imported only
when their verb runs, so `florenz --help` is fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import typing
from dataclasses import dataclass
from typing import Any

from florenz.allocator import keep_freed_memory
from florenz.config import ConfigError, MissingKeysError, field_help, load_config
from florenz.errors import FlorenzError

# Prefix of the parser's own destinations (sub-verb words, --config, the verb); config keys never have it.
_INTERNAL = "florenz:"


@dataclass(frozen=True)
class Verb:
    name: str  # words after `florenz`, e.g. "world build"
    config: str  # "module:ConfigClass"
    run: str  # "module:function", called with the config instance
    help: str


VERBS = [
    Verb("world build", "florenz.world.config:WorldConfig", "florenz.data.world_build:build_world",
         "Write the embedded world: training shards, test splits, benchmarks, text corpus, tokenizer."),
    Verb("finetune-data", "florenz.data.finetune_config:FinetuneDataConfig",
         "florenz.data.finetune:finetune_data",
         "Write the paper's fine-tuning mixture (Multi30K, COCO Karpathy, DOCCI, Image-Paragraphs; missing "
         "languages by NLLB/M2M100 with --mt) as training shards."),
    Verb("align", "florenz.data.align_config:AlignConfig", "florenz.data.align:align",
         "Pair text-only bitext with images by CLIP similarity (faiss) and write training shards."),
    Verb("train", "florenz.train.config:TrainConfig", "florenz.train.command:train_command",
         "Train a model to a budget of seen samples (VLM or decoder LM); resumes its run directory."),
    Verb("model list", "florenz.model.config:ModelListConfig", "florenz.model.info:list_models",
         "Print the size ladder: parameters (P, Pt), layers, widths, decoder kind, image tokens, FLOPs."),
    Verb("model info", "florenz.model.config:ModelInfoConfig", "florenz.model.info:model_info",
         "Print one size: parameters and FLOPs per part, and its full config."),
    Verb("model memory", "florenz.model.config:ModelMemoryConfig", "florenz.model.memory:model_memory",
         "Dry-run one FSDP2 training step on fake tensors: memory per rank of the paper's sizes and the "
         "largest micro-batch that fits."),
    Verb("prepare", "florenz.model.config:PrepareConfig", "florenz.model.prepare:prepare",
         "Build initial checkpoints of the paper's sizes from local Florence-2 / Gemma-2 weights "
         "(vocabulary remap, cross-attention inserted)."),
    Verb("export", "florenz.model.config:ExportConfig", "florenz.model.export:export",
         "Write a BART-kind run as a transformers Florence-2 directory (same logits, tested)."),
    Verb("pretrain vision", "florenz.pretrain.config:VisionPretrainConfig",
         "florenz.pretrain.vision:pretrain_vision",
         "Pre-train a size's DaViT tower and image adapter on the world (dense scene attributes), once."),
    Verb("pretrain decoder", "florenz.pretrain.config:DecoderPretrainConfig",
         "florenz.pretrain.decoder:pretrain_decoder",
         "Pre-train a size's decoder as a language model on the world's corpus (--langs en or all)."),
    Verb("pretrain clip", "florenz.pretrain.config:ClipPretrainConfig", "florenz.pretrain.clip:pretrain_clip",
         "Train a tiny CLIP (transformers CLIPModel) on the world's images and English captions, for align."),
    Verb("init", "florenz.pretrain.config:InitConfig", "florenz.pretrain.compose:init",
         "Compose the initial VLM checkpoint from a pre-trained vision tower and decoder; record T."),
    Verb("caption", "florenz.eval.config:CaptionConfig", "florenz.eval.predict:caption",
         "Caption images with a trained model in a language (--prefix: start from its caption prefix)."),
    Verb("translate", "florenz.eval.config:TranslateConfig", "florenz.eval.predict:translate",
         "Translate English text with a trained model, seeing an image (--image)."),
    Verb("eval", "florenz.eval.config:EvalConfig", "florenz.eval.run_eval:run_eval",
         "Generate on the world's or the paper's benchmarks and score them (BLEU, CIDEr, ambiguity)."),
    Verb("score", "florenz.eval.config:ScoreConfig", "florenz.eval.score:score",
         "Score a prediction file against references by id: BLEU (sacrebleu) or CIDEr-D x100."),
    Verb("eval-loss", "florenz.eval.config:EvalLossConfig", "florenz.eval.eval_loss:eval_loss",
         "Test losses (UC/ST/SC) and compute C of every checkpoint of a run -> RUN/eval_loss.jsonl."),
    Verb("fit", "florenz.scaling.config:FitConfig", "florenz.scaling.fit:fit",
         "Fit both scaling laws per split (fits.json, figures); --fits with --predict or --target plans."),
    Verb("study", "florenz.study.config:StudyConfig", "florenz.study.study:study",
         "Run the study on the world: grid of sizes x budgets x starts, test losses, scaling fits, report."),
    Verb("demo", "florenz.study.config:DemoConfig", "florenz.study.study:demo",
         "The quick study with its defaults into runs/demo (the README's main command)."),
]


def _import(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _leaf_fields(cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field, Any]]:
    """(dotted name, field, type) for every non-dataclass field, recursing into nested configs."""
    hints = typing.get_type_hints(cls)
    leaves = []
    for field in dataclasses.fields(cls):
        annotation = hints[field.name]
        if dataclasses.is_dataclass(annotation):
            leaves += _leaf_fields(annotation, f"{prefix}{field.name}.")
        else:
            leaves.append((prefix + field.name, field, annotation))
    return leaves


def _default_text(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        default = field.default
    elif field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    else:
        return "required"
    if isinstance(default, (list, tuple)):
        default = ",".join(map(str, default)) or "none"
    return f"default: {default}"


def _add_config_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    for dotted, field, annotation in _leaf_fields(cls):
        help_text = f"{field_help(field)} ({_default_text(field)})".replace("%", "%%")
        if field.metadata.get("positional"):
            required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            many = typing.get_origin(annotation) in (tuple, list)  # e.g. `florenz caption RUN IMAGE...`
            nargs = ("+" if required else "*") if many else (None if required else "?")
            parser.add_argument(dotted, nargs=nargs, default=argparse.SUPPRESS, help=help_text,
                                metavar=field.name.upper())
            continue
        flag = "--" + dotted.replace("_", "-")
        if annotation is bool:
            parser.add_argument(flag, dest=dotted, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=help_text)
        else:
            parser.add_argument(flag, dest=dotted, default=argparse.SUPPRESS, help=help_text,
                                metavar=field.name.upper())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="florenz",
        description="Florenz: build, train, evaluate and predict multilingual vision-language models "
                    "and their scaling laws.",
    )
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {(): parser.add_subparsers(
        dest=f"{_INTERNAL}word_0", metavar="VERB", required=True)}
    parents: dict[tuple[str, ...], argparse.ArgumentParser] = {(): parser}
    for verb in VERBS:
        words = tuple(verb.name.split())
        for depth in range(1, len(words)):
            group_key = words[:depth]
            if group_key not in groups:
                sub = groups[words[:depth - 1]].add_parser(words[depth - 1], help=f"{words[depth - 1]} verbs")
                parents[group_key] = sub
                groups[group_key] = sub.add_subparsers(dest=f"{_INTERNAL}word_{depth}", metavar="VERB",
                                                       required=True)
        sub = groups[words[:-1]].add_parser(words[-1], help=verb.help, description=verb.help)
        sub.add_argument("--config", dest=f"{_INTERNAL}config_file", default=None, metavar="FILE",
                         help="YAML or JSON file with this verb's config; flags override it")
        _add_config_flags(sub, _import(verb.config))
        sub.set_defaults(**{f"{_INTERNAL}verb": verb})
    return parser


def _load_verb_config(verb: Verb, config_file: str | None, overrides: dict[str, Any]) -> Any:
    """The verb's config from --config and flags; a missing required key is named as its flag."""
    try:
        return load_config(_import(verb.config), config_file, overrides)
    except MissingKeysError as error:
        flags = ", ".join("--" + key.replace("_", "-") for key in error.keys)
        raise ConfigError(f"missing required {flags} (a flag, or a key in the --config file)") from None


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    verb: Verb = args[f"{_INTERNAL}verb"]
    config_file = args[f"{_INTERNAL}config_file"]
    overrides = {key: value for key, value in args.items()
                 if not key.startswith(_INTERNAL) and value is not None}
    keep_freed_memory()  # small models' CPU steps stop re-faulting their memory (florenz/allocator.py)
    try:
        config = _load_verb_config(verb, config_file, overrides)
        result = _import(verb.run)(config)
    except (ConfigError, FlorenzError) as error:
        print(f"florenz {verb.name}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"florenz {verb.name}: interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
