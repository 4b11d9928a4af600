"""Benchmark readers: fixture files in the published layouts read back; missing files are named."""

import json
from pathlib import Path

import pytest
from PIL import Image

from florenz.data.shards import read_shard
from florenz.errors import FlorenzError
from florenz.eval import benchmarks as bench
from tests.published import write_lines


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), "red").save(path)
    return path



def test_multi30k_task1_reads_sources_targets_and_images_gz_or_plain(tmp_path):
    task1 = tmp_path / "multi30k" / "data" / "task1"
    write_lines(task1 / "raw" / "test_2016_flickr.en", ["A dog runs.", "Two men talk."], packed=True)
    write_lines(task1 / "raw" / "test_2016_flickr.de", ["Ein Hund rennt.", "Zwei Männer reden."], packed=True)
    write_lines(task1 / "image_splits" / "test_2016_flickr.txt", ["1000092795.jpg", "10002456.jpg"])
    first = _image(tmp_path / "multi30k" / "flickr30k-images" / "1000092795.jpg")
    _image(tmp_path / "multi30k" / "flickr30k-images" / "10002456.jpg")
    items = bench.read_multi30k_translation(tmp_path, "test_2016_flickr", "de")
    assert [(i.source, i.references) for i in items] == [("A dog runs.", ["Ein Hund rennt."]),
                                                         ("Two men talk.", ["Zwei Männer reden."])]
    assert items[0].image == first
    assert len(bench.read_multi30k_translation(tmp_path, "test_2016_flickr", "de", max_samples=1)) == 1
    # the ambiguous COCO split's images live in the COCO folders
    write_lines(task1 / "raw" / "test_2017_mscoco.en", ["A cat."])
    write_lines(task1 / "raw" / "test_2017_mscoco.fr", ["Un chat."])
    write_lines(task1 / "image_splits" / "test_2017_mscoco.txt", ["COCO_val2014_000000000042.jpg"])
    coco = _image(tmp_path / "coco" / "val2014" / "COCO_val2014_000000000042.jpg")
    assert bench.read_multi30k_translation(tmp_path, "test_2017_mscoco", "fr")[0].image == coco


def test_multi30k_task2_gives_five_references_per_image(tmp_path):
    task2 = tmp_path / "multi30k" / "data" / "task2"
    write_lines(task2 / "image_splits" / "test_2016_images.txt", ["1.jpg", "2.jpg"])
    for number in range(1, 6):
        write_lines(task2 / "raw" / f"test_2016.{number}.en", [f"first {number}", f"second {number}"])
    for name in ("1.jpg", "2.jpg"):
        _image(tmp_path / "multi30k" / "flickr30k-images" / name)
    items = bench.read_multi30k_captions(tmp_path, "en")
    assert items[1].references == [f"second {n}" for n in range(1, 6)]


def test_commute_reads_correct_and_incorrect_translations(tmp_path):
    pair = tmp_path / "CoMMuTE" / "en-fr"
    write_lines(pair / "src.en", ["He hit the bat.", "He hit the bat."])
    write_lines(pair / "correct.fr", ["Il a frappé la chauve-souris.", "Il a frappé la batte."])
    write_lines(pair / "incorrect.fr", ["Il a frappé la batte.", "Il a frappé la chauve-souris."])
    write_lines(pair / "img.order", ["bat_animal.jpg", "bat_club.jpg"])
    _image(tmp_path / "CoMMuTE" / "images" / "bat_animal.jpg")
    _image(tmp_path / "CoMMuTE" / "images" / "bat_club.jpg")
    items = bench.read_commute(tmp_path, "fr")
    assert [(i.references[0], i.incorrect) for i in items] == [
        ("Il a frappé la chauve-souris.", "Il a frappé la batte."),
        ("Il a frappé la batte.", "Il a frappé la chauve-souris.")]
    assert items[1].image.name == "bat_club.jpg"


def test_xm3600_reads_the_captions_of_one_language(tmp_path):
    root = tmp_path / "xm3600"
    rows = [{"image/key": "000411001ff7dd4f",
             "en": {"caption": ["a dog", "a brown dog"], "caption/tokenized": ["a dog", "a brown dog"],
                    "caption/tokenized/lowercase": ["a dog", "a brown dog"]},
             "zh": {"caption": ["一只狗"], "caption/tokenized": ["一 只 狗"],
                    "caption/tokenized/lowercase": ["一 只 狗"]}}]
    write_lines(root / "captions.jsonl", [json.dumps(row, ensure_ascii=False) for row in rows])
    _image(root / "images" / "000411001ff7dd4f.jpg")
    assert bench.read_xm3600(tmp_path, "zh")[0].references == ["一只狗"]
    assert bench.read_xm3600(tmp_path, "en")[0].id == "000411001ff7dd4f"
    with pytest.raises(FlorenzError, match="fr.caption"):
        bench.read_xm3600(tmp_path, "fr")


def test_coco_karpathy_reads_only_the_test_split(tmp_path):
    root = tmp_path / "coco"
    images = [{"filepath": "val2014", "filename": "COCO_val2014_000000391895.jpg", "split": "test",
               "cocoid": 391895, "imgid": 0, "sentids": [0, 1],
               "sentences": [{"raw": "A man riding a bike. ", "tokens": ["a", "man"], "imgid": 0,
                              "sentid": 0},
                             {"raw": "A cyclist.", "tokens": ["a", "cyclist"], "imgid": 0, "sentid": 1}]},
              {"filepath": "train2014", "filename": "COCO_train2014_000000000009.jpg", "split": "train",
               "cocoid": 9, "imgid": 1, "sentids": [2], "sentences": [{"raw": "Food.", "tokens": ["food"]}]}]
    root.mkdir()
    (root / "dataset_coco.json").write_text(json.dumps({"images": images, "dataset": "coco"}))
    _image(root / "val2014" / "COCO_val2014_000000391895.jpg")
    [item] = bench.read_coco_karpathy(tmp_path)
    assert (item.id, item.references) == ("391895", ["A man riding a bike.", "A cyclist."])


def test_docci_and_image_paragraphs_read_their_test_descriptions(tmp_path):
    docci = tmp_path / "docci"
    rows = [{"example_id": "test_00001", "split": "test", "image_file": "test_00001.jpg",
             "description": "A long description."},
            {"example_id": "train_00001", "split": "train", "image_file": "train_00001.jpg",
             "description": "Not this one."}]
    write_lines(docci / "docci_descriptions.jsonlines", [json.dumps(row) for row in rows])
    _image(docci / "images" / "test_00001.jpg")
    [item] = bench.read_docci(tmp_path)
    assert (item.id, item.references, item.detail) == ("test_00001", ["A long description."], "paragraph")

    paragraphs = tmp_path / "image_paragraphs"
    paragraphs.mkdir()
    (paragraphs / "paragraphs_v1.json").write_text(json.dumps([
        {"url": "https://cs.stanford.edu/people/rak248/VG_100K_2/2388203.jpg", "image_id": 2388203,
         "paragraph": "A man stands.  He is\n tall."},
        {"url": "https://cs.stanford.edu/people/rak248/VG_100K/2.jpg", "image_id": 2, "paragraph": "x"}]))
    (paragraphs / "test_split.json").write_text(json.dumps([2388203]))
    _image(paragraphs / "images" / "2388203.jpg")
    [item] = bench.read_image_paragraphs(tmp_path)
    assert item.references == ["A man stands. He is tall."]


@pytest.mark.parametrize("reader, missing", [
    (lambda root: bench.read_xm3600(root, "en"), "xm3600/captions.jsonl"),
    (lambda root: bench.read_commute(root, "de"), "CoMMuTE/en-de/src.en"),
    (bench.read_coco_karpathy, "coco/dataset_coco.json"),
    (bench.read_docci, "docci/docci_descriptions.jsonlines"),
    (bench.read_image_paragraphs, "image_paragraphs/test_split.json"),
    (lambda root: bench.read_multi30k_captions(root, "de"),
     "multi30k/data/task2/image_splits/test_2016_images.txt"),
])
def test_a_missing_file_is_named_with_where_the_reader_looked(tmp_path, reader, missing):
    with pytest.raises(FlorenzError) as error:
        reader(tmp_path)
    assert str(tmp_path / missing) in str(error.value)
    assert f"looked in {(tmp_path / missing).parent}" in str(error.value)


def test_a_missing_image_names_every_folder_searched(tmp_path):
    pair = tmp_path / "CoMMuTE" / "en-de"
    files = {"src.en": "x", "correct.de": "y", "incorrect.de": "z", "img.order": "gone.jpg"}
    for name, line in files.items():
        write_lines(pair / name, [line])
    images = tmp_path / "CoMMuTE" / "images"
    with pytest.raises(FlorenzError, match=f"gone.jpg not found; looked in {images}"):
        bench.read_commute(tmp_path, "de")


def test_world_benchmarks_read_back_what_the_world_wrote(tiny_world):
    sets = bench.world_benchmarks(tiny_world)
    assert set(sets["caption"]) == {"en", "de", "fr", "es", "ru", "zh"}
    assert set(sets["translation"]) == set(sets["ambiguity"]) == {"de", "fr", "es", "ru", "zh"}
    shard = next(iter(read_shard(sorted((Path(tiny_world) / "bench" / "caption").glob("*.tar"))[0])))
    annotation = shard.annotations[0]
    [item] = [i for i in sets["caption"][annotation["lang"]] if i.id == shard.key]
    assert item.references == annotation["references"] and item.image == shard.image
    assert all(item.incorrect and item.incorrect != item.references[0]
               for items in sets["ambiguity"].values() for item in items)
    limited = bench.world_benchmarks(tiny_world, max_samples=1)
    assert all(len(items) == 1 for name in limited for items in limited[name].values())
