"""Configuration of `florenz finetune-data` (the paper's fine-tuning mixture, reference §7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from florenz.config import option


@dataclass
class FinetuneDataConfig:
    out: str = option(help="output directory: train/ shards, manifest.json (and tokenizer.json, mt_cache/)")
    multi30k: str = option("", "Multi30K checkout (data/task1, data/task2, flickr30k-images/); empty: left "
                               "out")
    coco: str = option("", "COCO directory with dataset_coco.json (Karpathy) and train2014/, val2014/; "
                           "empty: left out")
    docci: str = option("", "DOCCI directory with docci_descriptions.jsonlines and images/; empty: left out")
    paragraphs: str = option("", "Stanford Image-Paragraphs directory with paragraphs_v1.json, "
                                 "train_split.json and images/; empty: left out")
    mt: str = option("", "local NLLB or M2M100 checkpoint (transformers) that fills the missing languages; "
                         "empty: only the languages present are written")
    mt_cache: str = option("", "translation cache directory, kept across --overwrite; empty: OUT/mt_cache")
    mt_batch_size: int = option(64, "sentences per translation batch (reference: 64)")
    mt_beams: int = option(4, "beam size of the translation (reference: 4)")
    mt_max_length_short: int = option(64, "most generated tokens for a short caption (reference §7.3: 64)")
    mt_max_length_long: int = option(256, "most generated tokens for a paragraph (reference §7.4: 256)")
    mt_device: Literal["auto", "cpu", "cuda"] = option("auto", "auto: cuda (fp16, as the reference) when "
                                                               "available, else cpu (fp32)")
    tokenizer: str = option("", "tokenizer.json (file or directory) copied to OUT, so `florenz train --data "
                                "OUT` uses the tokenizer of the model it fine-tunes; empty: none (give "
                                "--loader.tokenizer to train)")
    shard_size: int = option(1000, "images per shard")
    seed: int = option(0, "seed of the image order across shards")
    workers: int = option(1, "processes that read, check and write the shards; 0: all CPU cores")
    overwrite: bool = option(False, "replace a mixture already in OUT (the translation cache is kept)")

    def __post_init__(self) -> None:
        if not any((self.multi30k, self.coco, self.docci, self.paragraphs)):
            raise ValueError("give at least one dataset: --multi30k, --coco, --docci or --paragraphs")
        at_least = {"mt_batch_size": 1, "mt_beams": 1, "mt_max_length_short": 2, "mt_max_length_long": 2,
                    "shard_size": 1, "workers": 0}
        for name, least in at_least.items():
            if getattr(self, name) < least:
                raise ValueError(f"{name} is {getattr(self, name)}; use {least} or more")
