"""`florenz eval RUN --tasks ...`: generate on benchmarks, score, write RUN/eval/<task>.json, print a table.

Tasks (reference §6.4, and the world's stand-ins for them):
- world: translation BLEU per language; six-language captioning CIDEr with and without the prefix, seen
  (captioned in training) and unseen languages averaged apart, and the share of unseen-language captions
  that are in the asked language at all (`language_check`); English captioning CIDEr; ambiguity accuracy.
- multi30k: Task 1 BLEU per split (test 2016/2017 Flickr, ambiguous COCO) for de and fr; Task 2 captioning.
- commute: CoMMuTE translation BLEU and lexical-ambiguity accuracy for de, fr, ru, zh.
- xm3600: captioning CIDEr in the six languages, unseen mean over fr, es, ru, zh as the paper's.
- coco, docci, paragraphs: English captioning (short; detailed descriptions for the last two).
CIDEr is reported ×100 and accuracies in %, as the paper does. Every benchmark is read (and its files
checked) before the model generates anything; a task whose results exist with the same settings is
skipped, one with other settings is an error until --overwrite.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from tqdm import tqdm

from florenz.data.coverage import parse_coverage
from florenz.errors import FlorenzError
from florenz.eval import benchmarks as bench
from florenz.eval.benchmarks import CaptionItem, TranslationItem
from florenz.eval.config import EVAL_TASKS, EvalConfig, GenerationConfig
from florenz.eval.generation import TRAIN_CONFIG, Predictor
from florenz.eval.language_check import detect_language
from florenz.eval.metrics import ambiguity_accuracy, bleu, cider_d
from florenz.files import read_json, write_atomically

XM3600_UNSEEN = ("fr", "es", "ru", "zh")  # the paper's "unseen" mean (Table 4)
_PREFIXABLE = ("multi30k", "xm3600", "coco", "docci", "paragraphs")  # tasks that caption


class _Task:
    """One task's scores and prediction rows, filled set by set."""

    def __init__(self, predictor: Predictor, progress: Callable[[int], Any]) -> None:
        self.predictor, self.progress = predictor, progress
        self.scores: dict[str, float] = {}
        self.rows: list[dict[str, Any]] = []

    def captions(self, name: str, lang: str, items: list[CaptionItem], prefix: bool,
                 check_language: bool = False) -> None:
        """Caption every item (grouped by detail level, as the prompt differs), score CIDEr ×100 and BLEU."""
        outputs: list = [None] * len(items)
        for detail in sorted({item.detail for item in items}):
            chosen = [index for index, item in enumerate(items) if item.detail == detail]
            generated = self.predictor.caption([items[i].image for i in chosen], lang, detail, prefix,
                                               self.progress)
            for index, output in zip(chosen, generated):
                outputs[index] = output
        hypotheses, references = [output.text for output in outputs], [item.references for item in items]
        self.scores[f"{name}_cider/{lang}"] = 100 * cider_d(hypotheses, references, lang)
        self.scores[f"{name}_bleu/{lang}"] = bleu(hypotheses, references, lang)
        detected = [detect_language(output.text) for output in outputs] if check_language else None
        if detected is not None:
            self.scores[f"{name}_right_language/{lang}"] = 100 * sum(d == lang for d in detected) / len(items)
        for index, (item, output) in enumerate(zip(items, outputs)):
            row = {"set": f"{name}/{lang}", "id": item.id, "lang": lang, "prediction": output.text,
                   "full": output.full, "prefix": output.prefix, "finished": output.finished,
                   "references": item.references}
            if detected is not None:
                row["detected_language"] = detected[index]
            self.rows.append(row)

    def translations(self, name: str, lang: str, items: list[TranslationItem]) -> None:
        sources, images = [item.source for item in items], [item.image for item in items]
        outputs = self.predictor.translate(sources, lang, images, self.progress)
        references = [item.references for item in items]
        self.scores[f"{name}_bleu/{lang}"] = bleu([output.text for output in outputs], references, lang)
        self.rows += [{"set": f"{name}/{lang}", "id": item.id, "lang": lang, "source": item.source,
                       "prediction": output.text, "finished": output.finished, "references": item.references}
                      for item, output in zip(items, outputs)]

    def ambiguity(self, name: str, lang: str, items: list[TranslationItem]) -> None:
        """CoMMuTE scoring: correct iff the correct translation has the lower loss (reference §6.4)."""
        sources, images = [item.source for item in items], [item.image for item in items]
        losses = self.predictor.translation_losses
        correct = losses(sources, [item.references[0] for item in items], lang, images)
        self.progress(len(items))
        incorrect = losses(sources, [item.incorrect for item in items], lang, images)
        self.progress(len(items))
        self.scores[f"{name}_accuracy/{lang}"] = 100 * ambiguity_accuracy(correct, incorrect)
        self.rows += [{"set": f"{name}/{lang}", "id": item.id, "lang": lang, "source": item.source,
                       "correct_loss": right, "incorrect_loss": wrong, "correct": right < wrong}
                      for item, right, wrong in zip(items, correct, incorrect)]

    def mean(self, key: str, metric: str, langs: tuple[str, ...]) -> None:
        """scores[key] = the mean of metric/<lang> over those of `langs` that were scored."""
        values = [self.scores[f"{metric}/{lang}"] for lang in langs if f"{metric}/{lang}" in self.scores]
        if values:
            self.scores[key] = sum(values) / len(values)


# --- what each task reads and runs -----------------------------------------------------------------------

Plan = tuple[int, Callable[[_Task], None]]  # (samples to process, the function that processes them)


def _world_dir(config: EvalConfig) -> Path:
    if config.world:
        return Path(config.world)
    train_config = Path(config.run) / TRAIN_CONFIG
    if not train_config.is_file():
        raise FlorenzError(f"{config.run} has no {TRAIN_CONFIG} naming its world; pass --world DIR")
    return Path(read_json(train_config, "pass --world DIR instead").get("data", ""))


def _plan_world(config: EvalConfig) -> Plan:
    world = _world_dir(config)
    sets = bench.world_benchmarks(world, config.max_samples)
    manifest = read_json(world / "manifest.json", "rebuild the world with `florenz world build`")
    seen = parse_coverage(manifest.get("coverage", "paper")).languages("caption")
    unseen = tuple(lang for lang in sets["caption"] if lang not in seen)

    def run(task: _Task) -> None:
        for lang, items in sets["translation"].items():
            task.translations("translation", lang, items)
        task.mean("translation_bleu/mean", "translation_bleu", tuple(sets["translation"]))
        for name, prefix in (("caption", False), ("caption_prefix", True)):
            for lang, items in sets["caption"].items():
                task.captions(name, lang, items, prefix, check_language=lang in unseen)
            task.mean(f"{name}_cider/seen", f"{name}_cider", seen)
            task.mean(f"{name}_cider/unseen", f"{name}_cider", unseen)
            task.mean(f"{name}_right_language/unseen", f"{name}_right_language", unseen)
        task.captions("caption_en", "en", sets["caption_en"]["en"], False)
        for lang, items in sets["ambiguity"].items():
            task.ambiguity("ambiguity", lang, items)
        task.mean("ambiguity_accuracy/mean", "ambiguity_accuracy", tuple(sets["ambiguity"]))

    count = sum(len(items) for items in sets["translation"].values())
    count += 2 * sum(len(items) for items in sets["caption"].values()) + len(sets["caption_en"]["en"])
    count += 2 * sum(len(items) for items in sets["ambiguity"].values())
    return count, run


def _plan_multi30k(config: EvalConfig) -> Plan:
    root, limit = config.data_root, config.max_samples
    translation = {(split, lang): bench.read_multi30k_translation(root, split, lang, limit)
                   for split in bench.MULTI30K_TRANSLATION_SPLITS
                   for lang in bench.MULTI30K_TRANSLATION_LANGS}
    captions = {lang: bench.read_multi30k_captions(root, lang, limit)
                for lang in bench.MULTI30K_CAPTION_LANGS}

    def run(task: _Task) -> None:
        for (split, lang), items in translation.items():
            task.translations(f"translation_{split}", lang, items)
        for lang in bench.MULTI30K_TRANSLATION_LANGS:  # Table 4: the mean over the three splits
            values = [task.scores[f"translation_{split}_bleu/{lang}"]
                      for split in bench.MULTI30K_TRANSLATION_SPLITS]
            task.scores[f"translation_bleu/{lang}"] = sum(values) / len(values)
        for lang, items in captions.items():
            task.captions("caption", lang, items, config.prefix)

    return sum(map(len, translation.values())) + sum(map(len, captions.values())), run


def _plan_commute(config: EvalConfig) -> Plan:
    sets = {lang: bench.read_commute(config.data_root, lang, config.max_samples)
            for lang in bench.COMMUTE_LANGS}

    def run(task: _Task) -> None:
        for lang, items in sets.items():
            task.translations("translation", lang, items)
            task.ambiguity("ambiguity", lang, items)
        task.mean("translation_bleu/mean", "translation_bleu", bench.COMMUTE_LANGS)
        task.mean("ambiguity_accuracy/mean", "ambiguity_accuracy", bench.COMMUTE_LANGS)

    return 3 * sum(map(len, sets.values())), run


def _plan_xm3600(config: EvalConfig) -> Plan:
    sets = {lang: bench.read_xm3600(config.data_root, lang, config.max_samples)
            for lang in bench.XM3600_LANGS}

    def run(task: _Task) -> None:
        for lang, items in sets.items():
            task.captions("caption", lang, items, config.prefix)
        task.mean("caption_cider/unseen", "caption_cider", XM3600_UNSEEN)

    return sum(map(len, sets.values())), run


def _plan_english(reader: Callable[..., list[CaptionItem]]) -> Callable[[EvalConfig], Plan]:
    def plan(config: EvalConfig) -> Plan:
        items = reader(config.data_root, max_samples=config.max_samples)
        return len(items), lambda task: task.captions("caption", "en", items, config.prefix)

    return plan


_PLANS: dict[str, Callable[[EvalConfig], Plan]] = {
    "world": _plan_world,
    "multi30k": _plan_multi30k,
    "commute": _plan_commute,
    "xm3600": _plan_xm3600,
    "coco": _plan_english(bench.read_coco_karpathy),
    "docci": _plan_english(bench.read_docci),
    "paragraphs": _plan_english(bench.read_image_paragraphs),
}


# --- the verb -------------------------------------------------------------------------------------------

def _settings(config: EvalConfig, task: str) -> dict[str, Any]:
    """What decides a task's numbers, not how fast they come: results made with other settings are stale."""
    generation = {field.name: getattr(config, field.name) for field in fields(GenerationConfig)
                  if field.name not in ("batch_size", "device", "threads")}
    return {"generation": generation, "max_samples": config.max_samples,
            "prefix": config.prefix if task in _PREFIXABLE else None}


def _print_table(name: str, scores: dict[str, float]) -> None:
    print(f"== {name}")
    width = max(map(len, scores), default=0)
    for key, value in scores.items():
        print(f"{key:<{width}}  {value:8.2f}")


def run_eval(config: EvalConfig) -> int:
    """Evaluate RUN on the chosen tasks; returns 0. Results go to OUT/<task>.json and .predictions.jsonl."""
    tasks = list(dict.fromkeys(EVAL_TASKS if "all" in config.tasks else config.tasks))
    out = Path(config.out) if config.out else Path(config.run) / "eval"
    names = {task: f"{task}-prefix" if config.prefix and task in _PREFIXABLE else task for task in tasks}
    todo = []
    for task in tasks:
        result_path = out / f"{names[task]}.json"
        if result_path.is_file() and not config.overwrite:
            previous = read_json(result_path, "delete it or pass --overwrite")
            if previous.get("settings") != _settings(config, task):
                raise FlorenzError(f"{result_path} was made with other settings "
                                   f"({previous.get('settings')}); pass --overwrite to redo it, or --out "
                                   "another folder")
            print(f"{names[task]}: already done ({result_path}), skipped", file=sys.stderr)
            _print_table(names[task], previous["scores"])
            continue
        todo.append(task)
    plans = {task: _PLANS[task](config) for task in todo}  # every benchmark is read before generating
    if not plans:
        return 0
    predictor = Predictor.from_run(config.run, config, config.tokenizer)
    for task, (count, run) in plans.items():
        with tqdm(total=count, desc=names[task], unit="sample", file=sys.stderr, dynamic_ncols=True) as bar:
            results = _Task(predictor, bar.update)
            run(results)
        out.mkdir(parents=True, exist_ok=True)
        write_atomically(out / f"{names[task]}.predictions.jsonl",
                         "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in results.rows))
        summary = {"task": names[task], "run": str(config.run), "settings": _settings(config, task),
                   "samples": count, "scores": dict(sorted(results.scores.items()))}
        write_atomically(out / f"{names[task]}.json",
                         json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
        _print_table(names[task], summary["scores"])
    return 0

