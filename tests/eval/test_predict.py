"""`florenz caption` / `translate`: cached = uncached; a prefix changes a trained model's language."""

import pytest

from florenz.cli import main
from florenz.data.shards import read_shard
from florenz.data.world_build import build_world
from florenz.eval.language_check import detect_language
from florenz.train.config import OptimConfig, TrainConfig
from florenz.train.loop import train
from florenz.world.config import WorldConfig

UNSEEN = ("fr", "es", "ru", "zh")


def _image_files(world, split_dir, directory, count):
    paths = []
    for index, sample in enumerate(read_shard(sorted((world / split_dir).glob("*.tar"))[0])):
        if index == count:
            break
        paths.append(directory / f"{sample.key}.png")
        paths[-1].write_bytes(sample.image)
    return [str(path) for path in paths]


def _lines(capsys, argv):
    assert main(argv) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("beam", ["1", "3"])
def test_cached_and_uncached_generation_print_the_same(random_run, tiny_world, tmp_path, capsys, beam):
    images = _image_files(tiny_world, "bench/caption", tmp_path, 3)
    common = ["--tokenizer", str(tiny_world), "--max-new-tokens", "12", "--beam", beam]
    for argv in (["caption", str(random_run), *images, "--lang", "fr", "--prefix", *common],
                 ["translate", str(random_run), "a big red circle", "--lang", "ru", "--image", images[0],
                  *common]):
        cached = _lines(capsys, argv)
        uncached = _lines(capsys, [*argv, "--no-use-cache"])
        assert cached == uncached and len(cached) == (3 if argv[0] == "caption" else 1)


def test_caption_prints_the_full_sentence_and_its_continuation(random_run, tiny_world, tmp_path, capsys):
    images = _image_files(tiny_world, "bench/caption", tmp_path, 2)
    lines = _lines(capsys, ["caption", str(random_run), *images, "--lang", "es", "--prefix", "--tokenizer",
                            str(tiny_world), "--max-new-tokens", "3"])
    assert [line.split("\t")[0] for line in lines] == images
    assert all(line.split("\t")[1].startswith("La imagen muestra") and "(continuation: " in line
               for line in lines)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """world-xxs trained from scratch on 4k samples of a 512-image world with the paper's coverage."""
    root = tmp_path_factory.mktemp("prefix_world")
    world = build_world(WorldConfig(out=str(root / "world"), samples=512, image_size=32, test_samples=8,
                                    benchmark_samples=1, corpus_sentences=64, shard_size=256, workers=1))
    train(TrainConfig(data=str(world), out=str(root / "run"), size="world-xxs", samples=4000, batch_size=32,
                      save_every=0, precision="fp32", threads=1, optim=OptimConfig(lr=3e-3, warmup_steps=10)))
    return world, root / "run"


@pytest.mark.slow
def test_a_prefix_changes_the_output_language_of_a_trained_tiny_model(trained_run, tmp_path, capsys):
    world, run = trained_run
    right = {}
    for prefix in (False, True):
        detected = []
        for lang in UNSEEN:
            images = _image_files(world, f"test/uc/{lang}", tmp_path, 8)
            argv = ["caption", str(run), *images, "--lang", lang, "--max-new-tokens", "24"]
            lines = _lines(capsys, [*argv, "--prefix"] if prefix else argv)
            # the scored text: the continuation after a prefix, else the whole caption
            texts = [line.split("(continuation: ")[1] if prefix else line.split("\t")[1] for line in lines]
            detected += [detect_language(text) == lang for text in texts]
        right[prefix] = sum(detected) / len(detected)
    # trained on captions in en/de only, it answers unseen-language requests in a seen language; the
    # prefix puts it into the asked one (measured: 0% -> 75% at 4k samples)
    assert right[False] <= 0.25 and right[True] >= right[False] + 0.4, right
    images = _image_files(world, "test/uc/ru", tmp_path, 4)
    argv = ["caption", str(run), *images, "--lang", "ru", "--prefix", "--max-new-tokens", "24"]
    assert _lines(capsys, argv) == _lines(capsys, [*argv, "--no-use-cache"])
