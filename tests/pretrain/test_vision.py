import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from safetensors.torch import load_file

from florenz.cli import main
from florenz.data.world import read_world
from florenz.data.world_build import build_world
from florenz.errors import FlorenzError
from florenz.files import owned_directory
from florenz.model.checkpoint import load_state_dict_strict
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size
from florenz.pretrain.config import VisionPretrainConfig
from florenz.pretrain.vision import (
    VISION_MODULES,
    DenseAttributeHead,
    batch_gradients,
    cell_features,
    cell_labels,
    image_features,
    linear_probe_accuracy,
    pretrain_vision,
    probe_accuracies,
    render_pool,
)
from florenz.train.config import OptimConfig
from florenz.train.optim import build_optimizer
from florenz.world.config import WorldConfig
from florenz.world.scene import Scene, SceneObject

VISION_PREFIXES = ("vision_tower.", "image_position_embed.", "image_projection.", "image_proj_norm.")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("vision_world") / "world"
    build_world(WorldConfig(out=str(out), samples=10, test_samples=1, benchmark_samples=1, corpus_sentences=5,
                            image_size=64, shard_size=10, workers=1))
    return out


def tiny_recipe(world, out, **overrides) -> VisionPretrainConfig:
    values = dict(world=str(world), out=str(out), size="world-xxs", samples=64, batch_size=32, scenes=64,
                  warmup_steps=0, probe_scenes=40, precision="fp32")
    return VisionPretrainConfig(**{**values, **overrides})


def test_cell_labels_put_each_object_in_its_grid_cell_and_mark_the_rest_empty():
    star = SceneObject("star", "blue", "dark", "big", x=0.85, y=0.15)  # top row, right column: cell 2
    circle = SceneObject("circle", "red", "plain", "small", x=0.5, y=0.55)  # the centre: cell 4
    labels = cell_labels(Scene(objects=(star, circle), relations=(), background="white"))
    empty = [15, 7, 3, 2]  # shape (7 geometric + 8 homonym senses), colour, shade, size: one past the last
    expected = [empty] * 9
    expected[2] = [4, 2, 2, 1]  # star, blue, dark, big
    expected[4] = [0, 0, 1, 0]  # circle, red, plain, small
    assert labels.tolist() == expected


def test_cell_features_average_the_adapter_grid_over_each_third_of_the_image():
    torch.manual_seed(0)
    model = FlorenzModel(get_size("world-xs")).eval()  # 48 px, stride 8: a 6x6 grid, 2x2 blocks per cell
    pixels = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        grid = model.encode_image(pixels)[:, 1:].reshape(2, 6, 6, -1)
        features = cell_features(model, pixels)
    for row in range(3):
        for column in range(3):
            block = grid[:, 2 * row:2 * row + 2, 2 * column:2 * column + 2].mean(dim=(1, 2))
            torch.testing.assert_close(features[:, 3 * row + column], block)


def test_image_features_are_the_pooled_token_and_the_cells_batch_by_batch_in_eval_mode():
    torch.manual_seed(0)
    model = FlorenzModel(get_size("world-xs")).train()
    pixels = torch.randn(5, 3, 48, 48)
    with ThreadPoolExecutor(2) as pool:
        runs = [image_features(model, pixels, run_on, batch_size=2) for run_on in (None, pool)]  # 2, 2, 1
    assert model.training  # its mode is given back
    model.eval()
    with torch.no_grad():
        expected_pooled, expected_cells = model.encode_image(pixels)[:, 0], cell_features(model, pixels)
    for pooled, cells in runs:
        torch.testing.assert_close(pooled.float(), expected_pooled)
        torch.testing.assert_close(cells, expected_cells)
        assert pooled.dtype == torch.float64 and cells.shape == (5, 9, model.config.encoder.d_model)


def test_sharded_gradients_are_the_whole_batchs_and_do_not_depend_on_thread_timing():
    """Shards on threads (the CPU path with several torch threads) against one backward over the whole batch
    on the main thread, the reference: mean loss and every gradient equal to float32 rounding."""
    torch.manual_seed(0)
    config = get_size("world-xs")
    model, head = FlorenzModel(config), DenseAttributeHead(config.encoder.d_model)
    parameters = [p for name, p in model.named_parameters() if name.split(".", 1)[0] in VISION_MODULES]
    parameters += list(head.parameters())
    pixels, labels = torch.randn(7, 3, 48, 48), torch.randint(0, 3, (7, 9, 4))  # 7: unequal shards
    loss, _ = head.loss_and_correct(head(cell_features(model, pixels)), labels)
    reference = torch.autograd.grad(loss, parameters)
    with ThreadPoolExecutor(3) as pool:
        for shards in (1, 2, 3, 9):  # 9 > 7 images: no empty shard (its mean would be NaN)
            sharded_loss = batch_gradients(model, head, parameters, pixels, labels, False, shards, pool)
            torch.testing.assert_close(sharded_loss, loss.detach(), rtol=1e-6, atol=0)
            for parameter, expected in zip(parameters, reference, strict=True):
                # float32 rounding of sums in another order, against the size of the whole tensor
                scale = expected.abs().max().item()
                torch.testing.assert_close(parameter.grad, expected, rtol=1e-5, atol=1e-6 * scale)
        runs = []
        for _ in range(4):  # summed in shard order: bitwise the same however the threads interleave
            batch_gradients(model, head, parameters, pixels, labels, False, 3, pool)
            runs.append([parameter.grad.clone() for parameter in parameters])
        assert all(torch.equal(a, b) for run in runs[1:] for a, b in zip(runs[0], run))


def test_a_step_from_sharded_gradients_is_the_step_from_backward():
    """Clip and the fused AdamW step of pretrain vision after batch_gradients against the same after
    loss.backward(): fused AdamW pairs gradient and weight in memory order, so a gradient in another layout
    than its weight (autograd.grad gives conv weights channels-last) updates the wrong weights."""
    config = get_size("world-xs")
    pixels, labels = torch.randn(6, 3, 48, 48), torch.randint(0, 3, (6, 9, 4))

    def one_step(shards: int) -> list[torch.Tensor]:
        torch.manual_seed(0)
        trainable = torch.nn.ModuleDict({"model": FlorenzModel(config),
                                         "head": DenseAttributeHead(config.encoder.d_model)})
        for name, parameter in trainable["model"].named_parameters():
            parameter.requires_grad_(name.split(".", 1)[0] in VISION_MODULES)
        parameters = [p for p in trainable.parameters() if p.requires_grad]
        optimizer = build_optimizer(trainable, OptimConfig(lr=1e-2, weight_decay=0.05))
        model, head = trainable["model"], trainable["head"]
        if shards:
            with ThreadPoolExecutor(shards) as pool:
                batch_gradients(model, head, parameters, pixels, labels, False, shards, pool)
        else:  # the reference
            head.loss_and_correct(head(cell_features(model, pixels)), labels)[0].backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        return [parameter.detach().clone() for parameter in parameters]

    reference = one_step(0)
    for shards in (1, 2):
        for expected, stepped in zip(reference, one_step(shards), strict=True):
            # Adam's first step moves each weight by about lr whatever its gradient's size, so a gradient
            # near 0 that rounds otherwise may move lr/10; a misplaced one moves ~lr (1e-2) anywhere
            torch.testing.assert_close(stepped, expected, rtol=1e-5, atol=1e-3)


def test_linear_probe_reads_linearly_separable_classes_and_not_random_labels():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(800, 24, generator=generator, dtype=torch.float64)
    separable = (features @ torch.randn(24, 4, generator=generator, dtype=torch.float64)).argmax(1)
    noise = torch.randint(0, 4, (800,), generator=generator)
    fit, test = slice(0, 600), slice(600, None)  # chance: 0.25
    assert linear_probe_accuracy(features[fit], separable[fit], features[test], separable[test], 4) > 0.75
    assert linear_probe_accuracy(features[fit], noise[fit], features[test], noise[test], 4) < 0.4


@pytest.fixture(scope="module")
def trained(world, tmp_path_factory):
    """One tiny pre-training (world-xxs, 64 images) that several tests read and none changes."""
    return pretrain_vision(tiny_recipe(world, tmp_path_factory.mktemp("trained") / "vision"))


TINY_FLAGS = ["--size", "world-xxs", "--samples", "64", "--batch-size", "32", "--scenes", "64",
              "--warmup-steps", "0", "--probe-scenes", "40", "--precision", "fp32"]


def modification_times(directory):
    return {path: path.stat().st_mtime_ns for path in directory.rglob("*")}


def test_checkpoint_holds_exactly_the_models_vision_keys_trained_and_loadable(world, trained):
    tensors = load_file(trained / "model.safetensors")
    torch.manual_seed(0)
    fresh = FlorenzModel(get_size("world-xxs"))
    state = fresh.state_dict()
    assert set(tensors) == {name for name in state if name.startswith(VISION_PREFIXES)}
    assert any(not torch.equal(tensors[name], state[name]) for name in tensors)  # it did train
    load_state_dict_strict(fresh, {**{k: v for k, v in state.items() if k not in tensors}, **tensors}, "test")
    meta = json.loads((trained / "config.json").read_text())
    assert meta["model_type"] == "florenz-vision" and meta["size"] == "world-xxs"
    assert meta["vision"]["embed_dims"] == [16, 32] and meta["image_size"] == 32
    manifest_sha = hashlib.sha256((world / "manifest.json").read_bytes()).hexdigest()
    assert meta["world"]["manifest_sha256"] == manifest_sha


def loaded(checkpoint, seed: int) -> FlorenzModel:
    """World-xxs: vision parts from the checkpoint, the rest initialised from `seed`."""
    torch.manual_seed(seed)
    model = FlorenzModel(get_size("world-xxs")).eval()
    model.load_state_dict(load_file(checkpoint / "model.safetensors"), strict=False)
    return model


def test_the_saved_tower_alone_fixes_the_image_features_it_was_scored_on(world, trained):
    meta = json.loads((trained / "config.json").read_text())
    scenes, pixels = render_pool(read_world(world), "probe", 40, 32, seed=0)
    first, second = loaded(trained, seed=1), loaded(trained, seed=2)  # other encoders and decoders
    with torch.no_grad():
        torch.testing.assert_close(first.encode_image(pixels), second.encode_image(pixels), rtol=0, atol=0)
    pretrained, _ = image_features(first, pixels)
    assert probe_accuracies(pretrained, scenes) == meta["linear_probe_accuracy"]["pretrained"]
    torch.manual_seed(0)  # the recipe's seed: the tower before any step is the random baseline
    random, _ = image_features(FlorenzModel(get_size("world-xxs")), pixels)
    assert probe_accuracies(random, scenes) == meta["linear_probe_accuracy"]["random"]


def test_the_same_seed_gives_the_same_checkpoint(world, trained, tmp_path):
    again = pretrain_vision(tiny_recipe(world, tmp_path / "again"))
    assert (again / "model.safetensors").read_bytes() == (trained / "model.safetensors").read_bytes()
    first, second = (json.loads((path / "config.json").read_text()) for path in (trained, again))
    for meta in (first, second):
        del meta["samples_per_s"]  # the only timing
    assert first == second


def test_a_rerun_with_the_same_settings_does_nothing_and_other_settings_are_refused(world, trained, capsys):
    before = modification_times(trained)
    flags = ["pretrain", "vision", "--world", str(world), "--out", str(trained), *TINY_FLAGS]
    assert main(flags) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main([*flags, "--lr", "0.001"]) == 2
    err = capsys.readouterr().err
    assert "lr 0.003 -> 0.001" in err and "--overwrite" in err and "another --out" in err
    assert modification_times(trained) == before


def test_a_second_writer_on_one_out_is_refused(world, tmp_path):
    out = tmp_path / "vision"
    with owned_directory(out, "pretrain vision"):  # another process pre-training there
        with pytest.raises(FlorenzError, match="in use by `florenz pretrain vision`"):
            pretrain_vision(tiny_recipe(world, out))
    assert not out.exists()


def test_an_output_directory_with_other_files_is_refused_and_left_untouched(world, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FlorenzError, match="holds no output of `florenz pretrain vision`"):
        pretrain_vision(tiny_recipe(world, out))
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"


def test_an_existing_vision_checkpoint_is_replaced_only_with_overwrite(world, tmp_path):
    out = pretrain_vision(tiny_recipe(world, tmp_path / "vision"))
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(FlorenzError, match="--overwrite"):
        pretrain_vision(tiny_recipe(world, out, seed=1))
    assert (out / "model.safetensors").read_bytes() == before
    pretrain_vision(tiny_recipe(world, out, seed=1, overwrite=True))
    assert (out / "model.safetensors").read_bytes() != before


def test_a_directory_without_a_manifest_is_not_a_world(tmp_path):
    with pytest.raises(FlorenzError, match="is not a Florenz world"):
        pretrain_vision(tiny_recipe(tmp_path, tmp_path / "vision"))
    assert not (tmp_path / "vision").exists()


def test_a_short_pretraining_learns_object_colours_on_fresh_scenes(world, tmp_path):
    # the fast variant of the probe test below: measured 0.42 after 6,400 images (chance 1/7; 0.16 after
    # 3,200 since the world has 15 shapes, thin and holed ones among them); the pooled probe itself needs a
    # longer run, since the first steps reorganise the random tower's colour statistics
    out = pretrain_vision(tiny_recipe(world, tmp_path / "vision", size="world-xs", samples=6400,
                                      batch_size=16, scenes=6400, lr=3e-3, warmup_steps=10, probe_scenes=400))
    assert json.loads((out / "config.json").read_text())["dense_head_accuracy"]["colour"] > 0.3


@pytest.mark.slow
def test_linear_probe_on_the_pretrained_tower_beats_the_random_tower_by_far(world, tmp_path):
    # measured (world-xs, 40k images, 2,000 probe scenes): colour 0.60 vs 0.34, shape 0.39 vs 0.19; chance 1/7
    recipe = tiny_recipe(world, tmp_path / "vision", size="world-xs", samples=40000, batch_size=64,
                         scenes=8192, lr=3e-3, warmup_steps=30, probe_scenes=2000)
    out = pretrain_vision(recipe)
    probe = json.loads((out / "config.json").read_text())["linear_probe_accuracy"]
    assert probe["pretrained"]["colour"] > probe["random"]["colour"] + 0.12
    assert probe["pretrained"]["shape"] > probe["random"]["shape"] + 0.12


def test_a_tower_that_has_not_learned_colours_is_reported_with_the_fix(world, tmp_path, capsys):
    pretrain_vision(tiny_recipe(world, tmp_path / "weak"))  # 64 images: colours at chance
    accuracy = json.loads((tmp_path / "weak" / "config.json").read_text())["dense_head_accuracy"]["colour"]
    assert accuracy < 0.8
    captured = capsys.readouterr()
    assert "warning" in captured.err and "--samples" in captured.err and "dense-head accuracy" in captured.err
    assert "dense-head accuracy" in captured.out and "linear-probe accuracy" in captured.out  # named apart
