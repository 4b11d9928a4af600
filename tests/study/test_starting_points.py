import json
from pathlib import Path

import pytest

from florenz.data.world_build import build_world
from florenz.model.florenz import FlorenzModel
from florenz.pretrain import compose as init_module
from florenz.pretrain import decoder as decoder_module
from florenz.pretrain import vision as vision_module
from florenz.pretrain.config import DecoderPretrainConfig, VisionPretrainConfig
from florenz.study.starting_points import starting_point
from florenz.world.config import WorldConfig


@pytest.fixture
def steps(monkeypatch):
    """Stand-ins for the three steps that write only their completion markers and record their configs."""
    calls = {"vision": [], "decoder": [], "init": []}

    def step(name: str, marker: str):
        def run(config):
            calls[name].append(config)
            Path(config.out).mkdir(parents=True, exist_ok=True)
            (Path(config.out) / marker).write_text("{}")
            return Path(config.out)
        return run

    monkeypatch.setattr(vision_module, "pretrain_vision", step("vision", "config.json"))
    monkeypatch.setattr(decoder_module, "pretrain_decoder", step("decoder", "decoder_pretraining.json"))
    monkeypatch.setattr(init_module, "init", step("init", "starting_point.json"))
    return calls


@pytest.fixture
def manifest_world(tmp_path):
    world = tmp_path / "world"
    world.mkdir()
    (world / "manifest.json").write_text(json.dumps({"config": {"seed": 0, "image_size": 64}}))
    return world


def counts(calls) -> tuple[int, int, int]:
    return len(calls["vision"]), len(calls["decoder"]), len(calls["init"])


def test_each_part_is_made_once_and_then_reused(steps, manifest_world, tmp_path):
    first = starting_point(manifest_world, "world-xs", "A", tmp_path / "cache")
    second = starting_point(manifest_world, "world-xs", "A", tmp_path / "cache")
    assert first == second and counts(steps) == (1, 1, 1)
    assert steps["decoder"][0].langs == "en" and steps["decoder"][0].size == "world-xs"


def test_the_two_variants_share_the_vision_tower_but_not_the_decoder(steps, manifest_world, tmp_path):
    english = starting_point(manifest_world, "world-xs", "A", tmp_path / "cache")
    multilingual = starting_point(manifest_world, "world-xs", "B", tmp_path / "cache")
    assert english != multilingual and counts(steps) == (1, 2, 2)
    assert [c.langs for c in steps["decoder"]] == ["en", "en,de,fr,es,ru,zh"]
    assert steps["init"][0].vision == steps["init"][1].vision
    assert steps["init"][0].decoder != steps["init"][1].decoder


def test_sizes_with_the_same_vision_config_share_the_tower(steps, manifest_world, tmp_path):
    starting_point(manifest_world, "world-xs", "B", tmp_path / "cache")
    starting_point(manifest_world, "world-xs-gemma", "B", tmp_path / "cache")
    starting_point(manifest_world, "world-s", "B", tmp_path / "cache")
    assert counts(steps) == (2, 3, 3)  # xs and xs-gemma share a DaViT; s has its own


def test_a_changed_world_or_recipe_makes_the_parts_that_depend_on_it_again(steps, manifest_world, tmp_path):
    cache = tmp_path / "cache"
    starting_point(manifest_world, "world-xs", "A", cache)
    starting_point(manifest_world, "world-xs", "A", cache, vision=VisionPretrainConfig(lr=1e-3))
    assert counts(steps) == (2, 1, 2)
    starting_point(manifest_world, "world-xs", "A", cache, decoder=DecoderPretrainConfig(samples=999))
    assert counts(steps) == (2, 2, 3)
    starting_point(manifest_world, "world-xs", "A", cache, init_seed=1)
    assert counts(steps) == (2, 2, 4)
    (manifest_world / "manifest.json").write_text(json.dumps({"config": {"seed": 1, "image_size": 64}}))
    starting_point(manifest_world, "world-xs", "A", cache)
    assert counts(steps) == (3, 3, 5)


def test_an_interrupted_part_is_not_reused(steps, manifest_world, tmp_path, monkeypatch):
    def interrupted(config):
        Path(config.out).mkdir(parents=True)
        (Path(config.out) / "train_config.json").write_text("{}")  # a run directory without its marker
        raise KeyboardInterrupt

    monkeypatch.setattr(decoder_module, "pretrain_decoder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        starting_point(manifest_world, "world-xs", "A", tmp_path / "cache")
    monkeypatch.setattr(decoder_module, "pretrain_decoder", lambda config: steps["decoder"].append(config) or
                        (Path(config.out) / "decoder_pretraining.json").write_text("{}"))
    starting_point(manifest_world, "world-xs", "A", tmp_path / "cache")
    assert counts(steps) == (1, 1, 1)  # the vision tower was kept, the decoder run resumed


def test_a_real_starting_point_on_a_tiny_world_records_T_and_is_found_again(tmp_path):
    world = tmp_path / "world"
    build_world(WorldConfig(out=str(world), samples=10, test_samples=2, benchmark_samples=1,
                            corpus_sentences=40, image_size=32, shard_size=10, workers=1))
    recipes = dict(vision=VisionPretrainConfig(samples=32, batch_size=16, scenes=32, warmup_steps=0,
                                               probe_scenes=16, precision="fp32"),
                   decoder=DecoderPretrainConfig(samples=32, batch_size=16, warmup_steps=0, precision="fp32"))
    directory = starting_point(world, "world-xxs", "A", tmp_path / "cache", **recipes)
    record = json.loads((directory / "starting_point.json").read_text())
    assert record["size"] == "world-xxs" and record["langs"] == ["en"]
    assert record["T"] == record["losses"]["uc"] > 0
    FlorenzModel.from_pretrained(directory)
    modified = (directory / "model.safetensors").stat().st_mtime_ns
    assert starting_point(world, "world-xxs", "A", tmp_path / "cache", **recipes) == directory
    assert (directory / "model.safetensors").stat().st_mtime_ns == modified
    entries = sorted(path.name.split("-")[0] for path in (tmp_path / "cache").iterdir())
    assert entries == ["decoder", "init", "vision"]
