"""How varied the world's text is: distinct sentence skeletons per language at variety low and high.

    python benchmarks/world_text.py                   # 2000 texts per language and variety
    python benchmarks/world_text.py --texts 500 --max-objects 8

Each text is about a random scene, at a random detail level and register (caption or translation),
realised with random synonyms; a skeleton is a sentence with its content masked (world/realise/skeletons.py).
Issue 17 asks for at least 3x the low variety's skeletons at high variety in every language. Also counted:
distinct text plans by their sequence of sentence kinds (the order and joins of a text, language-free).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from florenz.world.languages import DETAIL_LEVELS, LANGUAGES
from florenz.world.realise import REGISTERS, VARIETIES, plan_description, realise
from florenz.world.realise.skeletons import distinct_skeletons
from florenz.world.scene import sample_scene

from common import environment, print_table, write_result


def texts_and_sequences(variety: str, count: int, max_objects: int, seed: int
                        ) -> tuple[dict[str, list[str]], set[tuple[str, ...]]]:
    """`count` texts per language at `variety`, and the distinct sentence-kind sequences of their plans."""
    rng = np.random.default_rng(seed)
    texts: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
    sequences = set()
    for _ in range(count):
        scene = sample_scene(rng, max_objects=max_objects)
        detail = DETAIL_LEVELS[int(rng.integers(len(DETAIL_LEVELS)))]
        register = REGISTERS[int(rng.integers(len(REGISTERS)))]
        plan = plan_description(scene, detail, rng, variety=variety, register=register)
        sequences.add((plan.opener, *(f"{type(s).__name__}{s.form}{'+' if s.joined else ''}"
                                      for s in plan.sentences)))
        for lang in LANGUAGES:
            texts[lang].append(realise(plan, lang, rng))
    return texts, sequences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--texts", type=int, default=2000, help="texts per language and variety")
    add("--max-objects", type=int, default=4, help="objects per scene at most (world build --max-objects)")
    add("--seed", type=int, default=0)
    add("--json", default="benchmarks/results/world_text.json", help="where to write the results")
    args = parser.parse_args()

    started = time.perf_counter()
    counts = {}
    sequences = {}
    for variety in VARIETIES:
        texts, sequences[variety] = texts_and_sequences(variety, args.texts, args.max_objects, args.seed)
        counts[variety] = {lang: len(distinct_skeletons(texts[lang], lang)) for lang in LANGUAGES}
    rows = [{"lang": lang, **{variety: counts[variety][lang] for variety in VARIETIES},
             "high/low": round(counts["high"][lang] / counts["low"][lang], 2)} for lang in LANGUAGES]
    print_table(rows)
    print(f"distinct sentence-kind sequences: low {len(sequences['low'])}, high {len(sequences['high'])} "
          f"({time.perf_counter() - started:.0f} s)")
    write_result(args.json, {
        "benchmark": "world_text",
        "date": time.strftime("%Y-%m-%d"),
        **environment(packages=["numpy"]),
        "texts": args.texts, "max_objects": args.max_objects, "seed": args.seed,
        "skeletons": rows,
        "sequences": {variety: len(found) for variety, found in sequences.items()},
    })


if __name__ == "__main__":
    main()
