"""`florenz score` through the CLI: last line against sacrebleu / pycocoevalcap; clear input errors."""

import json

import numpy as np
import pytest
import sacrebleu
from pycocoevalcap.cider.cider import Cider

from florenz.cli import main
from florenz.eval.metrics import tokenize_for_cider
from florenz.world.samples import caption
from florenz.world.scene import sample_scene


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return str(path)


@pytest.fixture
def prediction_files(tmp_path):
    """Russian world captions: 24 samples with 1-4 references, ids of both kinds, hypotheses shuffled."""
    rng = np.random.default_rng(3)
    scenes = [sample_scene(rng) for _ in range(24)]
    ids = [f"img{i}" if i % 2 else i for i in range(24)]
    references = [[caption(scene, "ru", "short", rng, prefix=False)["target"]
                   for _ in range(rng.integers(1, 5))] for scene in scenes]
    hypotheses = [caption(scenes[(i + (i % 3 == 0)) % 24], "ru", "short", rng)["target"] for i in range(24)]
    order = rng.permutation(24)
    refs = write_jsonl(tmp_path / "refs.jsonl", [{"id": ids[i], "refs": references[i]} for i in range(24)])
    hyps = write_jsonl(tmp_path / "hyps.jsonl", [{"id": ids[i], "hyp": hypotheses[i]} for i in order])
    return refs, hyps, hypotheses, references


def last_line(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_score_cider_prints_pycocoevalcap_cider_times_100(prediction_files, capsys):
    refs, hyps, hypotheses, references = prediction_files
    assert main(["score", "--metric", "cider", "--lang", "ru", "--refs", refs, "--hyps", hyps]) == 0
    gts = {i: [" ".join(tokenize_for_cider(r, "ru")) for r in refs_] for i, refs_ in enumerate(references)}
    res = {i: [" ".join(tokenize_for_cider(hyp, "ru"))] for i, hyp in enumerate(hypotheses)}
    expected, _ = Cider().compute_score(gts, res)
    assert last_line(capsys) == f"{100 * expected:.2f}"
    assert expected > 0.2


def test_score_bleu_prints_sacrebleu_score(prediction_files, capsys):
    refs, hyps, hypotheses, references = prediction_files
    assert main(["score", "--metric", "bleu", "--lang", "ru", "--refs", refs, "--hyps", hyps]) == 0
    most = max(map(len, references))
    streams = [[refs_[j] if j < len(refs_) else None for refs_ in references] for j in range(most)]
    expected = sacrebleu.corpus_bleu(hypotheses, streams)
    assert last_line(capsys) == f"{expected.score:.2f}"
    assert expected.score > 5


def test_score_names_missing_and_extra_ids(tmp_path, capsys):
    refs = write_jsonl(tmp_path / "refs.jsonl", [{"id": i, "refs": ["a b"]} for i in range(3)])
    hyps = write_jsonl(tmp_path / "hyps.jsonl", [{"id": 0, "hyp": "a b"}, {"id": "7", "hyp": "a"}])
    assert main(["score", "--metric", "cider", "--lang", "en", "--refs", refs, "--hyps", hyps]) == 2
    error = capsys.readouterr().err
    assert "2 id(s) in" in error and "1, 2" in error and "1 id(s) in" in error and "'7'" in error


@pytest.mark.parametrize("refs_text, message", [
    ('{"id": 1, "refs": ["a"]}\n{"id": 1, "refs": ["b"]}\n', "appears twice"),
    ('{"id": 1, "refs": ["a"]}\nnot json\n', "refs.jsonl:2 is not valid JSON"),
    ('{"id": 1, "refs": "a"}\n', "non-empty list of strings"),
    ('{"id": 1, "references": ["a"]}\n', "expected an object with keys"),
    ('{"id": [1], "refs": ["a"]}\n', "string or an integer"),
    ("\n", "holds no rows"),
])
def test_score_rejects_malformed_reference_files(tmp_path, capsys, refs_text, message):
    refs = tmp_path / "refs.jsonl"
    refs.write_text(refs_text)
    hyps = write_jsonl(tmp_path / "hyps.jsonl", [{"id": 1, "hyp": "a"}])
    assert main(["score", "--metric", "bleu", "--lang", "en", "--refs", str(refs), "--hyps", hyps]) == 2
    assert message in capsys.readouterr().err


def test_score_names_a_missing_file_and_a_bad_language(tmp_path, capsys):
    hyps = write_jsonl(tmp_path / "hyps.jsonl", [{"id": 1, "hyp": "a"}])
    assert main(["score", "--metric", "bleu", "--lang", "en", "--refs", str(tmp_path / "nope.jsonl"),
                 "--hyps", hyps]) == 2
    assert "nope.jsonl: no such file" in capsys.readouterr().err
    assert main(["score", "--metric", "bleu", "--lang", "French", "--refs", hyps, "--hyps", hyps]) == 2
    assert "ISO 639" in capsys.readouterr().err
