"""Configuration of the evaluation verbs (torch-free, so `florenz --help` stays fast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from florenz.config import option
from florenz.world.languages import check_language

EVAL_TASKS = ("world", "multi30k", "commute", "xm3600", "coco", "docci", "paragraphs")


@dataclass
class GenerationConfig:
    """Every decoding setting, written out: the reference inherited several silently (§6.2, §9.2.8).
    The caption, translate and eval configs extend it, so its fields are their flags (`--beam 4`)."""

    beam: int = option(1, "beams of beam search; 1 is greedy decoding (paper: 4)")
    max_new_tokens: int = option(128, "most tokens generated after the start token and prefix (paper: 128)")
    no_repeat_ngram_size: int = option(0, "ban any token that repeats an n-gram of this size; 0: off (the "
                                          "paper's checkpoints inherited 3 from their generation config)")
    length_penalty: float = option(1.0, "beam hypotheses score sum(log p) / length ** this (paper: 1.0)")
    use_cache: bool = option(True, "KV cache for the decoder's self-attention (the paper's Gemma decoders "
                                   "could not use one); --no-use-cache recomputes every step")
    batch_size: int = option(32, "inputs per generation batch (paper: 8)")
    max_prompt_tokens: int = option(128, "prompt tokens kept, <bos>/<eos> included (as in training)")
    prefix_set: Literal["world", "paper"] = option(
        "world", "decoder prefixes: 'paper' = the paper's six phrases; 'world' = the same but Russian "
                 "'На картинке', because the world's participle agrees with the noun that follows")
    device: Literal["auto", "cpu", "cuda"] = option("auto", "auto: cuda when available, else cpu")
    threads: int = option(0, "CPU threads (torch.set_num_threads); 0: torch's default")

    def __post_init__(self) -> None:
        if self.beam < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError(f"beam ({self.beam}), max_new_tokens ({self.max_new_tokens}) and batch_size "
                             f"({self.batch_size}) must be at least 1")
        if self.no_repeat_ngram_size < 0 or self.threads < 0:
            raise ValueError("no_repeat_ngram_size and threads must be >= 0")
        if self.max_prompt_tokens < 2:
            raise ValueError("max_prompt_tokens must be at least 2 (room for <bos> and <eos>)")


@dataclass(kw_only=True)
class CaptionConfig(GenerationConfig):
    """`florenz caption RUN IMAGE...`: one caption per image in the asked language (decoding flags too)."""

    run: str = option(help="run or checkpoint directory (config.json + model.safetensors)", positional=True)
    images: tuple[str, ...] = option(help="image files (PNG/JPEG)", positional=True)
    lang: str = option("en", "caption language: en, de, fr, es, ru or zh")
    detail: Literal["short", "detailed", "paragraph"] = option("short", "caption detail level (prompt)")
    prefix: bool = option(False, "start the decoder from the language's caption prefix ('La photo montre')")
    tokenizer: str = option("", "tokenizer.json (file or directory); empty: the run's training data's")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_language(self.lang, "lang")


@dataclass(kw_only=True)
class TranslateConfig(GenerationConfig):
    """`florenz translate RUN TEXT --lang ru [--image IMG]`: translate English text, seeing an image."""

    run: str = option(help="run or checkpoint directory (config.json + model.safetensors)", positional=True)
    text: str = option(help="English text to translate", positional=True)
    lang: str = option("de", "target language: en, de, fr, es, ru or zh")
    image: str = option("", "image the text is about; empty: a blank white image (an empty world scene)")
    tokenizer: str = option("", "tokenizer.json (file or directory); empty: the run's training data's")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_language(self.lang, "lang")


@dataclass(kw_only=True)
class EvalConfig(GenerationConfig):
    """`florenz eval RUN --tasks ...`: generation benchmarks, scores in RUN/eval/<task>.json."""

    run: str = option(help="run or checkpoint directory (config.json + model.safetensors)", positional=True)
    tasks: tuple[str, ...] = option(("world",), "comma list of " + ", ".join(EVAL_TASKS) + ", or all")
    prefix: bool = option(False, "real captioning tasks: start the decoder from the language prefix (the "
                                 "world task always reports captioning with and without it)")
    world: str = option("", "world directory for --tasks world; empty: the run's training data")
    data_root: str = option("benchmarks-data", "folder holding multi30k/, CoMMuTE/, xm3600/, coco/, docci/ "
                                                "and image_paragraphs/ in their published layouts")
    max_samples: int = option(0, "evaluate at most this many samples per set (language, split); 0: all")
    out: str = option("", "folder for <task>.json and <task>.predictions.jsonl; empty: RUN/eval")
    overwrite: bool = option(False, "redo tasks whose results exist (otherwise they are skipped)")
    tokenizer: str = option("", "tokenizer.json (file or directory); empty: the run's training data's")

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [task for task in self.tasks if task not in (*EVAL_TASKS, "all")]
        if unknown or not self.tasks:
            raise ValueError(f"tasks {list(self.tasks)}: choose from {', '.join(EVAL_TASKS)} or all")
        if self.max_samples < 0:
            raise ValueError(f"max_samples is {self.max_samples}; use 0 (all) or a positive count")


@dataclass
class ScoreConfig:
    """`florenz score --metric bleu|cider --lang LANG --refs REFS.jsonl --hyps HYPS.jsonl`: score a file."""

    metric: Literal["bleu", "cider"] = option(
        help="bleu: sacrebleu corpus BLEU (13a; zh tokenizer for Chinese); cider: CIDEr-D x100 (COCO's)")
    lang: str = option(help="language of the texts, an ISO 639 code (en, de, fr, es, ru, zh, ...); it picks "
                            "the tokenisation")
    refs: str = option(help='references: JSONL, one {"id": ..., "refs": ["...", ...]} per sample')
    hyps: str = option(help='hypotheses: JSONL, one {"id": ..., "hyp": "..."} per sample, same ids as --refs')


# --- florenz eval-loss -------------------------------------------------------------------------------------

@dataclass
class EvalLossConfig:
    """`florenz eval-loss RUN`: UC/ST/SC test losses and compute of each checkpoint -> RUN/eval_loss.jsonl."""

    run: str = option(help="run directory of `florenz train` (final model and budget-<S>/ branches)",
                      positional=True)
    world: str = option("", "world whose test splits are evaluated; empty: the run's training data")
    max_samples_per_set: int = option(0, "the first N samples of each test set (e.g. uc/fr); 0: all of them")
    length_samples: int = option(1024, "training samples of the run's own stream whose mean prompt and "
                                       "target lengths give F")
    batch_size: int = option(32, "samples per forward pass")
    max_prompt_tokens: int = option(128, "prompt tokens kept, <bos>/<eos> included (as in training)")
    max_target_tokens: int = option(128, "target tokens kept, <bos>/<eos> included (as in training)")
    overwrite: bool = option(False, "evaluate every checkpoint again, even those whose rows are current")
    device: Literal["auto", "cpu", "cuda"] = option("auto", "auto: cuda when available, else cpu")
    threads: int = option(0, "CPU threads (torch.set_num_threads); 0: torch's default")

    def __post_init__(self) -> None:
        if self.max_samples_per_set < 0 or self.threads < 0:
            raise ValueError("max_samples_per_set and threads must be >= 0")
        if self.length_samples < 1 or self.batch_size < 1:
            raise ValueError(f"length_samples ({self.length_samples}) and batch_size ({self.batch_size}) "
                             "must be at least 1")
        if self.max_prompt_tokens < 2 or self.max_target_tokens < 2:
            raise ValueError("max_prompt_tokens and max_target_tokens must be at least 2 (room for <bos> "
                             "and <eos>)")
