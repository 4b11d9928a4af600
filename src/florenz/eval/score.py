"""`florenz score`: BLEU or CIDEr-D of any prediction file against a reference file, matched by id.

    florenz score --metric cider --lang zh --refs refs.jsonl --hyps hyps.jsonl

REFS rows are `{"id": ..., "refs": ["...", ...]}`, HYPS rows `{"id": ..., "hyp": "..."}` (ids are JSON strings
or integers, each once per file, the same set in both). The score is the last line printed: CIDEr-D ×100 as
papers report it, BLEU as `sacrebleu -b` prints it; the lines before it give the details.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from florenz.errors import FlorenzError
from florenz.eval.config import ScoreConfig
from florenz.eval.metrics import check_language_code, cider_d, sacrebleu_corpus


def _check_value(value: Any, key: str, where: str) -> Any:
    if key == "id" and (isinstance(value, bool) or not isinstance(value, (str, int))):
        raise FlorenzError(f"{where}: id {value!r} must be a string or an integer")
    if key == "hyp" and not isinstance(value, str):
        raise FlorenzError(f"{where}: hyp must be a string (empty for no output), got {value!r}")
    if key == "refs" and (not isinstance(value, list) or not value
                          or not all(isinstance(ref, str) for ref in value)):
        raise FlorenzError(f"{where}: refs must be a non-empty list of strings, got {value!r}")
    return value


def read_rows(path: str, keys: tuple[str, str], flag: str) -> dict[str | int, Any]:
    """{id: value} from a JSONL file of `{"id": ..., keys[1]: ...}` rows; blank lines are skipped."""
    file = Path(path)
    if not file.is_file():
        raise FlorenzError(f"{flag} {path}: no such file; give a JSONL file with one "
                           f'{{"id": ..., "{keys[1]}": ...}} per line')
    rows: dict[str | int, Any] = {}
    with file.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise FlorenzError(f"{where} is not valid JSON ({error.msg}); write one JSON object per "
                                   "line") from None
            if not isinstance(row, dict) or set(keys) - set(row):
                raise FlorenzError(f"{where}: expected an object with keys {list(keys)}, got "
                                   f"{line.strip()[:80]}")
            sample_id = _check_value(row["id"], "id", where)
            if sample_id in rows:
                raise FlorenzError(f"{where}: id {sample_id!r} appears twice in {path}; give each sample "
                                   "once")
            rows[sample_id] = _check_value(row[keys[1]], keys[1], where)
    if not rows:
        raise FlorenzError(f"{flag} {path} holds no rows; write one JSON object per line")
    return rows


def _matched(references: dict, hypotheses: dict, config: ScoreConfig) -> list:
    """The ids of both files in reference order, or an error naming the ids only one file has."""
    missing = [sample_id for sample_id in references if sample_id not in hypotheses]
    extra = [sample_id for sample_id in hypotheses if sample_id not in references]
    problems = [f"{len(ids)} id(s) {kind}: {', '.join(map(repr, ids[:10]))}{' ...' if len(ids) > 10 else ''}"
                for kind, ids in ((f"in {config.refs} but not in {config.hyps}", missing),
                                  (f"in {config.hyps} but not in {config.refs}", extra)) if ids]
    if problems:
        raise FlorenzError("; ".join(problems) + "; give one hypothesis for every reference id and no other")
    return list(references)


def score(config: ScoreConfig) -> float:
    """Print the details and then the score (last line); return it as printed (CIDEr-D ×100, BLEU 0-100)."""
    check_language_code(config.lang)
    references = read_rows(config.refs, ("id", "refs"), "--refs")
    hypotheses = read_rows(config.hyps, ("id", "hyp"), "--hyps")
    ids = _matched(references, hypotheses, config)
    hyps, refs = [hypotheses[sample_id] for sample_id in ids], [references[sample_id] for sample_id in ids]
    print(f"{len(ids)} samples, {sum(map(len, refs))} references, language {config.lang}")
    if config.metric == "bleu":
        result = sacrebleu_corpus(hyps, refs, config.lang)
        print(result)
        print(result.signature)
        printed = result.format(score_only=True)
    else:
        printed = f"{100 * cider_d(hyps, refs, config.lang):.2f}"
        print(f"CIDEr-D x100 (COCO definition, n=4, sigma=6; tokens: NFKC, lowercase, no punctuation"
              f"{', Chinese by character' if config.lang == 'zh' else ''})")
    print(printed)
    return float(printed)
