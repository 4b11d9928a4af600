import math
import shutil

import pytest
import torch

from florenz.data.collate import image_to_tensor
from florenz.data.prompts import build_prompt
from florenz.data.shards import read_shard
from florenz.data.tokenizer import load_tokenizer
from florenz.data.world_build import build_world
from florenz.errors import FlorenzError
from florenz.eval.losses import split_losses
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size
from florenz.world.config import WorldConfig


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("loss_world") / "world"
    build_world(WorldConfig(out=str(out), samples=20, test_samples=5, benchmark_samples=1,
                            corpus_sentences=20, image_size=32, shard_size=20, workers=1))
    return out


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FlorenzModel(get_size("world-xxs")).eval()


def _reference_loss(model, tokenizer, image, annotation) -> float:
    """One sample alone (no batching, no padding): mean over target tokens of -log p(token)."""
    prompt = [2, *tokenizer.encode(build_prompt(annotation["task"], annotation["lang"], annotation["detail"],
                                                annotation.get("source")), add_special_tokens=False).ids, 1]
    target = [2, *tokenizer.encode(annotation["target"], add_special_tokens=False).ids, 1]
    decoder_input = [1, *target[:-1]]  # decoding starts from <eos> (reference §1.9)
    with torch.no_grad():
        pixels = image_to_tensor(image, model.config.image_size)[None]
        logits = model(pixels, torch.tensor([prompt]), torch.ones(1, len(prompt)),
                       torch.tensor([decoder_input]))[0]
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    return -sum(log_probs[t, token].item() for t, token in enumerate(target)) / len(target)


@pytest.mark.parametrize("shuffle_images", [False, True])
def test_split_losses_are_macro_averages_of_per_sample_token_means_computed_one_by_one(world, model,
                                                                                    shuffle_images):
    tokenizer = load_tokenizer(world)
    expected, per_split = {}, {}
    for split, langs in (("sc", ("de", "en")), ("uc", ("es", "fr", "ru", "zh"))):
        for lang in langs:
            samples = list(read_shard(world / "test" / split / lang / "000000.tar"))
            images = [s.image for s in samples]
            if shuffle_images:  # each sample sees the next sample's image
                images = images[1:] + images[:1]
            losses = [_reference_loss(model, tokenizer, image, sample.annotations[0])
                      for sample, image in zip(samples, images)]
            expected[f"{split}/{lang}"] = sum(losses) / len(losses)
            per_split.setdefault(split, []).extend(losses)
    for split, losses in per_split.items():
        expected[split] = sum(losses) / len(losses)
    result = split_losses(model, world, splits=("sc", "uc"), batch_size=3, shuffle_images=shuffle_images)
    assert set(result) == set(expected) | {"mean"}
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=2e-5), key
    all_losses = per_split["sc"] + per_split["uc"]
    assert result["mean"] == pytest.approx(sum(all_losses) / len(all_losses), abs=2e-5)


def test_shuffled_images_change_every_sets_loss_far_beyond_batching_noise(world):
    """A random model barely looks at the image (shuffling moves its losses by ~1e-4, batching by ~1e-6), so
    this one is made to: the prompt carries nothing (zero token embeddings), cross-attention outputs are
    20x and the logits 5x larger. Shuffling must then move each set's loss by more than 1e-3 and 100x the
    difference between batch sizes 3 and 1 (measured: 0.012 and 0.024 against < 1e-6)."""
    torch.manual_seed(0)
    model = FlorenzModel(get_size("world-xxs")).eval()
    with torch.no_grad():
        model.encoder.embed_tokens.weight.zero_()
        for layer in model.decoder.layers:
            layer.encoder_attn.out_proj.weight.mul_(20)
        model.decoder.embed_tokens.weight.mul_(5)
    right = split_losses(model, world, splits=("sc",), batch_size=3)
    alone = split_losses(model, world, splits=("sc",), batch_size=1)
    shuffled = split_losses(model, world, splits=("sc",), batch_size=3, shuffle_images=True)
    noise = max(abs(right[key] - alone[key]) for key in right)
    for key in ("sc/de", "sc/en"):
        assert abs(shuffled[key] - right[key]) > max(1e-3, 100 * noise), key


def test_a_decoder_with_zero_embeddings_has_loss_log_vocabulary_on_every_set(world):
    torch.manual_seed(0)
    uniform = FlorenzModel(get_size("world-xxs"))
    with torch.no_grad():
        uniform.decoder.embed_tokens.weight.zero_()  # tied LM head: every logit is 0
    result = split_losses(uniform, world, max_samples_per_set=2)
    assert set(result) >= {"uc", "st", "sc", "mean", "uc/fr", "st/zh", "sc/en"}
    for value in result.values():
        assert value == pytest.approx(math.log(2048), abs=1e-5)


def test_a_world_without_the_split_is_a_clear_error(tmp_path, world, model):
    shutil.copy(world / "tokenizer.json", tmp_path)
    (tmp_path / "test").mkdir()
    with pytest.raises(FlorenzError, match=r"no test split 'uc'.*florenz world build"):
        split_losses(model, tmp_path, splits=("uc",))


def test_a_model_vocabulary_smaller_than_the_world_tokenizer_is_refused(world):
    config = get_size("world-xxs")
    config.decoder.vocab_size = 100
    torch.manual_seed(0)
    small = FlorenzModel(config)
    with pytest.raises(FlorenzError, match=r"tokenizer has \d+ entries.*100 \(decoder\)"):
        split_losses(small, world)
