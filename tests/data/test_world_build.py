import hashlib
import io
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

import florenz.data.world_build as build_module
from florenz.cli import main as cli_main
from florenz.config import ConfigError
from florenz.data.shards import read_shard
from florenz.data.tokenizer import encode_text, load_tokenizer
from florenz.data.world_build import build_world
from florenz.errors import FlorenzError
from florenz.files import owned_directory
from florenz.world.config import WorldConfig
from florenz.world.languages import CAPTION_PREFIXES, DETAIL_LEVELS

PAPER_PAIRS = {("caption", "en"), ("caption", "de"), ("translation", "de"), ("translation", "fr"),
               ("translation", "es"), ("translation", "ru"), ("translation", "zh")}
TEST_LAYOUT = {"uc": ("caption", {"fr", "es", "ru", "zh"}), "st": ("translation", {"fr", "es", "ru", "zh"}),
               "sc": ("caption", {"en", "de"})}


def tiny(out: Path, **overrides) -> WorldConfig:
    settings = dict(out=str(out), samples=50, shard_size=20, test_samples=6, benchmark_samples=2,
                    corpus_sentences=30, vocab_size=1024, workers=1, image_size=48)
    return WorldConfig(**(settings | overrides))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_hashes(world: Path) -> dict[str, str]:
    return {str(p.relative_to(world)): sha256(p) for p in sorted(world.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def samples_of(folder: Path):
    return [sample for shard in sorted(folder.glob("*.tar")) for sample in read_shard(shard)]


def texts_of(annotation: dict) -> list[str]:
    return [annotation["target"], *annotation.get("references", []),
            *(annotation[k] for k in ("source", "incorrect") if k in annotation)]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return build_world(tiny(tmp_path_factory.mktemp("world") / "w"))


@pytest.fixture(scope="module")
def manifest(world) -> dict:
    return json.loads((world / "manifest.json").read_text())


def test_layout_and_manifest_counts_match_the_files(world, manifest):
    train = samples_of(world / "train")
    assert len(list((world / "train").glob("*.tar"))) == 3 and len(train) == 50
    counted = Counter(f"{a['task']}-{a['lang']}" for s in train for a in s.annotations)
    assert manifest["counts"]["train"] == {"samples": 50, "annotations": dict(sorted(counted.items()))}
    for name, (task, langs) in TEST_LAYOUT.items():
        for lang in langs:
            samples = samples_of(world / "test" / name / lang)
            expected = {"samples": 6, "annotations": {f"{task}-{lang}": 6}}
            assert manifest["counts"][f"test/{name}/{lang}"] == expected
            assert len(samples) == 6
    for bench in ("translation", "caption", "caption_en", "ambiguity"):
        counted = Counter(f"{a['task']}-{a['lang']}" for s in samples_of(world / "bench" / bench)
                          for a in s.annotations)
        assert manifest["counts"][f"bench/{bench}"]["annotations"] == dict(sorted(counted.items()))
    for lang, lines in manifest["counts"]["corpus"]["lines"].items():
        assert len((world / "corpus" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()) == lines == 30


def test_manifest_lists_every_file_with_its_sha256(world, manifest):
    assert manifest["files"] == file_hashes(world)
    assert manifest["seed"] == 0 and manifest["coverage"] == "caption:en,de;translation:de,fr,es,ru,zh"
    assert set(manifest["versions"]) >= {"florenz", "numpy", "pillow", "tokenizers"}
    assert WorldConfig(**manifest["config"]).samples == 50  # the resolved config rebuilds the world
    # the text knobs at their defaults (the lead's decision), recorded
    assert {key: manifest["config"][key] for key in ("variety", "register", "pairing", "pairing_similarity",
                                                     "max_objects", "caption_shaped_pairs")} == {
        "variety": "high", "register": "translation", "pairing": "exact", "pairing_similarity": 0.7,
        "max_objects": 4, "caption_shaped_pairs": 0.2}


def test_training_images_carry_every_covered_annotation(world):
    for sample in samples_of(world / "train"):
        pairs = {(a["task"], a["lang"]) for a in sample.annotations}
        assert pairs == PAPER_PAIRS
        for lang in ("en", "de"):
            assert {a["detail"] for a in sample.annotations if a["lang"] == lang and a["task"] == "caption"} \
                == set(DETAIL_LEVELS)
        for annotation in sample.annotations:
            assert annotation["target"].strip()
            assert ("source" in annotation) == (annotation["task"] == "translation")
        image = Image.open(io.BytesIO(sample.image))
        assert image.size == (48, 48) and image.mode == "RGB"


def prefix_share(annotations: list[dict], task: str, lang: str) -> float:
    targets = [a["target"] for a in annotations if (a["task"], a["lang"]) == (task, lang)]
    return sum(t.startswith(CAPTION_PREFIXES[lang]) for t in targets) / len(targets)


def test_captions_open_with_the_prefix_and_translations_only_in_the_caption_register(world, tmp_path):
    """The pilot's decisive knob (world.md): prefix phrases must occur in training captions; translation
    pairs carry them only in their caption-shaped share, or in the caption register (--register caption)."""
    annotations = [a for s in samples_of(world / "train") for a in s.annotations]
    for lang in ("en", "de"):
        assert 0.15 < prefix_share(annotations, "caption", lang) < 0.8, lang
    out = build_world(tiny(tmp_path / "none", samples=40, caption_shaped_pairs=0.0))
    annotations = [a for s in samples_of(out / "train") for a in s.annotations]
    for lang in ("de", "fr", "zh"):
        assert prefix_share(annotations, "translation", lang) == 0, lang
    out = build_world(tiny(tmp_path / "w", samples=40, register="caption", variety="low", max_objects=8,
                           pairing="similar", pairing_similarity=0.5))
    config = json.loads((out / "manifest.json").read_text())["config"]
    knobs = ("register", "variety", "max_objects", "pairing", "pairing_similarity")
    assert {key: config[key] for key in knobs} == {"register": "caption", "variety": "low", "max_objects": 8,
                                                   "pairing": "similar", "pairing_similarity": 0.5}
    annotations = [a for s in samples_of(out / "train") for a in s.annotations]
    for lang in ("fr", "zh"):
        assert 0.15 < prefix_share(annotations, "translation", lang) < 0.8, lang


def test_coverage_decides_which_annotations_exist(tmp_path):
    out = build_world(tiny(tmp_path / "w", samples=20, coverage="caption:en;translation:de,fr,es"))
    pairs = {(a["task"], a["lang"]) for s in samples_of(out / "train") for a in s.annotations}
    assert pairs == {("caption", "en"), ("translation", "de"), ("translation", "fr"), ("translation", "es")}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["categories"] == ["caption-en", "translation-de", "translation-fr", "translation-es"]


def test_held_out_sets_share_no_image_or_sentence_with_training(world):
    train = samples_of(world / "train")
    train_images = {sha256_bytes(s.image) for s in train}
    train_texts = {t for s in train for a in s.annotations for t in texts_of(a)}
    held_out_texts = set()
    for folder in [*(world / "test").glob("*/*"), *(world / "bench").glob("*")]:
        for sample in samples_of(folder):
            assert sha256_bytes(sample.image) not in train_images, folder
            for annotation in sample.annotations:
                held_out_texts.update(texts_of(annotation))
                # an ambiguity item's incorrect translation is false on purpose: it may be true elsewhere
                checked = [t for t in texts_of(annotation) if t != annotation.get("incorrect")]
                assert not set(checked) & train_texts, (folder, annotation)
    corpus = {line for path in (world / "corpus").glob("*.txt") for line in path.read_text().splitlines()}
    assert not corpus & held_out_texts


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_test_sets_hold_one_annotation_of_their_task_with_mixed_details(world):
    for name, (task, langs) in TEST_LAYOUT.items():
        assert {p.name for p in (world / "test" / name).iterdir()} == langs
        for lang in langs:
            samples = samples_of(world / "test" / name / lang)
            assert all(len(s.annotations) == 1 for s in samples)
            assert {(s.annotations[0]["task"], s.annotations[0]["lang"]) for s in samples} == {(task, lang)}
            assert {s.annotations[0]["detail"] for s in samples} == set(DETAIL_LEVELS)


def test_benchmarks_carry_references_and_ambiguity_alternatives(world):
    caption = [s.annotations[0] for s in samples_of(world / "bench" / "caption")]
    assert {a["lang"] for a in caption} == {"en", "de", "fr", "es", "ru", "zh"}
    assert all(a["target"] == a["references"][0] and len(set(a["references"])) == len(a["references"]) >= 2
               for a in caption)
    assert all(len(s.annotations[0]["references"]) == 5 for s in samples_of(world / "bench" / "caption_en"))
    translation = [s.annotations[0] for s in samples_of(world / "bench" / "translation")]
    assert Counter(a["lang"] for a in translation) == {lang: 2 for lang in ("de", "fr", "es", "ru", "zh")}
    ambiguity = {(s.key, s.annotations[0]["word"], s.annotations[0]["reading"]): s.annotations[0]
                 for s in samples_of(world / "bench" / "ambiguity")}
    # item i of every language asks the i-th word (bow, bat, key, nut[, blue]) in its first reading
    first_items = (("bow", "bow_ribbon"), ("bat", "bat_animal"))
    assert set(ambiguity) == {(f"ambiguity_{i:06d}_{lang}", word, reading)
                              for lang in ("de", "fr", "es", "ru", "zh")
                              for i, (word, reading) in enumerate(first_items)}
    assert all(a["incorrect"] != a["target"] and a["source"] for a in ambiguity.values())
    sources = [a["source"] for a in ambiguity.values()]
    assert len(set(sources)) == len(sources)


def test_world_tokenizer_round_trips_world_text(world):
    tokenizer = load_tokenizer(world)
    assert tokenizer.get_vocab_size() <= 1024 and tokenizer.token_to_id("<unk>") == 3
    for folder in (world / "test").glob("*/*"):
        for sample in samples_of(folder):
            text = sample.annotations[0]["target"]
            ids = encode_text(tokenizer, text)
            assert tokenizer.decode(ids) == text and 3 not in ids


def test_worker_count_does_not_change_any_file(world, tmp_path):
    two = build_world(tiny(tmp_path / "w2", workers=2))
    assert file_hashes(two) == file_hashes(world)


def test_interrupted_build_resumes_to_identical_files(world, tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "train_tokenizer", interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_world(tiny(tmp_path / "w"))
    monkeypatch.undo()
    assert not (tmp_path / "w" / "manifest.json").exists()
    (tmp_path / "w" / "train" / "000001.tar").unlink()  # as if killed before this shard was renamed
    (tmp_path / "w" / "train" / "000001.tar.tmp").write_bytes(b"half a shard")
    build_world(tiny(tmp_path / "w"))  # the same command again: no --overwrite needed
    assert file_hashes(tmp_path / "w") == file_hashes(world)


def test_overwrite_restores_a_deleted_shard_and_keeps_user_files(world, tmp_path):
    copy = tmp_path / "w"
    shutil.copytree(world, copy)
    (copy / "train" / "000002.tar").unlink()
    (copy / "notes.txt").write_text("mine")
    (copy / "train" / "000000.tar").write_bytes(b"tampered")  # differs from the manifest: rebuilt
    build_world(tiny(copy, overwrite=True))
    assert (copy / "notes.txt").read_text() == "mine"
    assert {k: v for k, v in file_hashes(copy).items() if k != "notes.txt"} == file_hashes(world)


def test_existing_world_is_never_replaced_without_overwrite(world, tmp_path):
    copy = tmp_path / "w"
    shutil.copytree(world, copy)
    before = file_hashes(copy) | {"manifest.json": sha256(copy / "manifest.json")}
    with pytest.raises(FlorenzError, match=r"other settings \(seed 0 -> 1\).*--overwrite"):
        build_world(tiny(copy, seed=1))
    assert file_hashes(copy) | {"manifest.json": sha256(copy / "manifest.json")} == before


def test_rerunning_a_finished_build_does_nothing_and_exits_0(world, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "w"
    shutil.copytree(world, copy)
    before = {path: path.stat().st_mtime_ns for path in copy.rglob("*")}
    monkeypatch.setattr(build_module, "training_shard", None)  # building anything would fail
    # the same content settings; workers only say how fast, not what
    assert cli_main(["world", "build", "--out", str(copy), "--samples", "50", "--shard-size", "20",
                     "--test-samples", "6", "--benchmark-samples", "2", "--corpus-sentences", "30",
                     "--vocab-size", "1024", "--workers", "2", "--image-size", "48"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {path: path.stat().st_mtime_ns for path in copy.rglob("*")} == before
    assert cli_main(["world", "build", "--out", str(copy), "--samples", "51"]) == 2
    err = capsys.readouterr().err
    assert "samples 50 -> 51" in err and "--overwrite" in err and "another --out" in err


def test_a_second_builder_on_one_out_is_refused(tmp_path):
    out = tmp_path / "w"
    with owned_directory(out, "world build"):  # another process building there (a flock per open file)
        with pytest.raises(FlorenzError, match="in use by `florenz world build`"):
            build_world(tiny(out))
    assert not out.exists()


def test_an_out_under_a_file_or_unwritable_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    assert cli_main(["world", "build", "--out", str(tmp_path / "file" / "w")]) == 2
    assert "--out" in capsys.readouterr().err and (tmp_path / "file").read_text() == "mine"
    assert cli_main(["world", "build", "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err and (tmp_path / "file").read_text() == "mine"
    assert cli_main(["world", "build", "--out", "/sys/florenz-world"]) == 2  # refused even to root
    assert "writable" in capsys.readouterr().err


def test_a_directory_it_cannot_write_into_is_a_clear_error(tmp_path, monkeypatch):
    def refuse(path, data):  # as for a directory another user owns (root would not see the refusal)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(build_module, "write_atomically", refuse)
    with pytest.raises(FlorenzError, match="cannot write to --out .*Permission denied.*writable"):
        build_world(tiny(tmp_path / "w"))


def test_overwrite_with_other_settings_replaces_only_the_worlds_files(world, tmp_path):
    copy = tmp_path / "w"
    shutil.copytree(world, copy)
    (copy / "train" / "keep.txt").write_text("mine")
    build_world(tiny(copy, samples=20, seed=3, overwrite=True))
    assert sorted(p.name for p in (copy / "train").iterdir()) == ["000000.tar", "keep.txt"]
    assert json.loads((copy / "manifest.json").read_text())["seed"] == 3


def test_directory_that_is_not_a_world_is_refused_even_with_overwrite(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(FlorenzError, match="holds no Florenz world"):
        build_world(tiny(tmp_path / "mine", overwrite=True))
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["thesis.tex"]


@pytest.mark.parametrize("coverage", ["caption:xx", "caption en", "translation:en", "captions:en"])
def test_bad_coverage_fails_before_anything_is_written(tmp_path, coverage):
    with pytest.raises(ConfigError):
        build_world(tiny(tmp_path / "w", coverage=coverage))
    assert not (tmp_path / "w").exists()


def test_cli_builds_a_world_and_reports_bad_flags(tmp_path, capsys):
    flags = ["--samples", "20", "--shard-size", "20", "--test-samples", "3", "--benchmark-samples", "1",
             "--corpus-sentences", "10", "--workers", "1", "--image-size", "32"]
    assert cli_main(["world", "build", "--out", str(tmp_path / "w"), *flags]) == 0
    assert (tmp_path / "w" / "manifest.json").is_file()
    assert cli_main(["world", "build", "--out", str(tmp_path / "v"), "--coverage", "caption:klingon"]) == 2
    assert "'klingon'" in capsys.readouterr().err and not (tmp_path / "v").exists()
    bad_flags = (("--max-objects", "9", "at most 8 objects"), ("--variety", "rich", "low, high"),
                 ("--pairing", "clip", "exact, similar"), ("--pairing-similarity", "1.5", "[0, 1]"))
    for flag, value, message in bad_flags:
        assert cli_main(["world", "build", "--out", str(tmp_path / "v"), flag, value]) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "v").exists()


@pytest.mark.slow
def test_build_killed_mid_way_reruns_to_identical_files(tmp_path):
    """A real SIGKILL while shards are being written; the same command then finishes the same world."""
    flags = ["--samples", "400", "--shard-size", "20", "--test-samples", "3", "--benchmark-samples", "1",
             "--corpus-sentences", "10", "--workers", "1", "--image-size", "32"]
    command = [sys.executable, "-m", "florenz.cli", "world", "build", *flags]
    reference = tmp_path / "reference"
    subprocess.run([*command, "--out", str(reference)], check=True, capture_output=True)
    killed = tmp_path / "killed"
    process = subprocess.Popen([*command, "--out", str(killed)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (killed / "train" / "000002.tar").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()
    process.wait()
    assert not (killed / "manifest.json").exists()
    subprocess.run([*command, "--out", str(killed)], check=True, capture_output=True)
    assert file_hashes(killed) == file_hashes(reference)
