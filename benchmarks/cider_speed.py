"""CIDEr-D speed: Florenz's numpy CIDEr-D against pycocoevalcap's Cider on the same tokenised captions.

    python benchmarks/cider_speed.py                        # 5,000 world captions x 5 references, English
    python benchmarks/cider_speed.py --lang zh --samples 1000

The captions are world captions (half describe their own scene, half another one), tokenised once with
`tokenize_for_cider`; both scorers get the same tokens (pycocoevalcap as space-joined strings, as its PTB
tokenizer would hand them over). Printed: seconds of each scorer (best of --repeats), their ratio, the largest
per-sample difference (the target: 1e-6), and our tokenisation time apart. Compare ratios within one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from pycocoevalcap.cider.cider import Cider

from florenz.eval.metrics import cider_d_scores, tokenize_for_cider
from florenz.world.samples import caption
from florenz.world.scene import sample_scene

from common import environment, print_table, write_result


def world_captions(lang: str, samples: int, references: int, seed: int) -> tuple[list[str], list[list[str]]]:
    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng) for _ in range(samples)]
    refs = [[caption(scene, lang, "short", rng, prefix=False)["target"] for _ in range(references)]
            for scene in scenes]
    described = [i if rng.random() < 0.5 else int(rng.integers(samples)) for i in range(samples)]
    hyps = [caption(scenes[i], lang, "short", rng)["target"] for i in described]
    return hyps, refs


def best_time(function, repeats: int):
    """(result, best seconds) of `repeats` calls."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000, help="captions (one hypothesis each)")
    parser.add_argument("--references", type=int, default=5, help="references per caption")
    parser.add_argument("--lang", default="en", help="world language of the captions")
    parser.add_argument("--repeats", type=int, default=1, help="timed calls per scorer; the best counts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated captions")
    parser.add_argument("--json", default="benchmarks/results/cider_speed.json",
                        help="where to write results")
    args = parser.parse_args()
    env = environment(packages=("numpy", "pycocoevalcap"))
    print(f"hardware: {env['hardware']}\nversions: {env['versions']}")

    hyps, refs = world_captions(args.lang, args.samples, args.references, args.seed)
    (hyp_tokens, ref_tokens), tokenize_seconds = best_time(lambda: (
        [tokenize_for_cider(hyp, args.lang) for hyp in hyps],
        [[tokenize_for_cider(ref, args.lang) for ref in sample] for sample in refs]), args.repeats)
    gts = {i: [" ".join(ref) for ref in sample] for i, sample in enumerate(ref_tokens)}
    res = {i: [" ".join(hyp)] for i, hyp in enumerate(hyp_tokens)}

    (theirs_mean, theirs), theirs_seconds = best_time(lambda: Cider().compute_score(gts, res), args.repeats)
    ours, ours_seconds = best_time(lambda: cider_d_scores(hyp_tokens, ref_tokens), args.repeats)
    difference = float(np.abs(ours - np.asarray(theirs)).max())
    rows = [
        {"scorer": "pycocoevalcap Cider", "seconds": round(theirs_seconds, 3),
         "cider_x100": round(100 * theirs_mean, 4), "speedup": 1.0},
        {"scorer": "florenz cider_d_scores", "seconds": round(ours_seconds, 3),
         "cider_x100": round(100 * float(ours.mean()), 4),
         "speedup": round(theirs_seconds / ours_seconds, 1)},
    ]
    print_table(rows)
    print(f"largest per-sample difference {difference:.2e} (target <= 1e-6); tokenize_for_cider on all "
          f"{args.samples * (args.references + 1):,} texts: {tokenize_seconds:.2f} s")
    write_result(args.json, {
        "benchmark": "cider_speed", **env, "samples": args.samples, "references": args.references,
        "lang": args.lang, "repeats": args.repeats, "rows": rows, "max_abs_difference": difference,
        "speedup": theirs_seconds / ours_seconds, "tokenize_seconds": tokenize_seconds,
    })


if __name__ == "__main__":
    main()
