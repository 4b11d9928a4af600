import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from florenz.cli import main
from florenz.data.tokenizer import encode_text, load_tokenizer
from florenz.errors import FlorenzError
from florenz.pretrain.clip import (
    CLIP_RECORD,
    clamp_logit_scale,
    clip_image_processor,
    normalised,
    resized_pixels,
    retrieval_accuracy,
    world_pairs,
)

TINY = ["--samples", "2048", "--batch-size", "32", "--image-size", "32", "--patch-size", "4",
        "--width", "32", "--layers", "1", "--heads", "2", "--projection-dim", "16", "--warmup-steps", "4",
        "--eval-images", "4"]


@pytest.fixture(scope="module")
def clip_dir(tiny_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("clip") / "clip"
    assert main(["pretrain", "clip", "--world", str(tiny_world), "--out", str(out), *TINY]) == 0
    return out


def test_the_output_loads_as_a_plain_transformers_clip_with_the_worlds_tokenizer(clip_dir, tiny_world):
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    model = CLIPModel.from_pretrained(clip_dir)
    tokenizer = AutoTokenizer.from_pretrained(clip_dir)
    processor = AutoImageProcessor.from_pretrained(clip_dir)
    assert json.loads((clip_dir / "config.json").read_text())["model_type"] == "clip"
    assert (clip_dir / "model.safetensors").is_file()
    text = "The image shows a big red circle on the left."
    # the same ids as the trainer's own encoding: <bos> pieces <eos>, so CLIP pools at the world's <eos>
    assert tokenizer(text)["input_ids"] == encode_text(load_tokenizer(tiny_world), text)
    assert model.config.text_config.eos_token_id == load_tokenizer(tiny_world).token_to_id("<eos>")
    pixels = processor(images=[Image.new("RGB", (96, 96), "red")], return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, 32, 32)
    with torch.no_grad():
        features = model.get_image_features(pixel_values=pixels).pooler_output
    assert features.shape == (1, 16)


def test_training_lowers_the_contrastive_loss_of_the_training_pairs(clip_dir, tiny_world):
    from transformers import AutoTokenizer, CLIPModel

    trained = CLIPModel.from_pretrained(clip_dir).eval()
    torch.manual_seed(0)
    initial = CLIPModel(trained.config).eval()
    tokenizer, processor = AutoTokenizer.from_pretrained(clip_dir), clip_image_processor(32)
    pixels, captions = world_pairs(tiny_world / "train", processor, 0, "read")

    def mean_loss(model) -> float:  # CLIP's symmetric loss over batches of 32, first caption of each image
        losses = []
        with torch.no_grad():
            for start in range(0, 96, 32):
                encoded = tokenizer([c[0] for c in captions[start:start + 32]], padding=True, truncation=True,
                                    return_tensors="pt")
                losses.append(model(**encoded, pixel_values=normalised(processor, pixels[start:start + 32]),
                                    return_loss=True).loss.item())
        return sum(losses) / len(losses)

    record = json.loads((clip_dir / CLIP_RECORD).read_text())
    assert record["training_images"] == len(captions) == 96
    assert mean_loss(initial) > math.log(32) - 0.05  # a random model scores captions about uniformly
    assert mean_loss(trained) < mean_loss(initial) - 0.3


def test_the_temperature_starts_at_clips_0_07_is_learned_and_clamped_at_100(clip_dir):
    from transformers import CLIPModel

    model = CLIPModel.from_pretrained(clip_dir)
    assert model.config.logit_scale_init_value == pytest.approx(math.log(1 / 0.07))
    learned = json.loads((clip_dir / CLIP_RECORD).read_text())["logit_scale"]
    assert model.logit_scale.item() == pytest.approx(learned)
    assert abs(learned - math.log(1 / 0.07)) > 1e-3  # trained, not left at its initial value
    with torch.no_grad():
        model.logit_scale.fill_(math.log(500))
    clamp_logit_scale(model)
    assert model.logit_scale.item() == pytest.approx(math.log(100))
    assert model.logit_scale.requires_grad


def test_stored_uint8_pixels_normalise_to_the_processors_own_output():
    processor = clip_image_processor(24)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for _ in range(3)]
    reference = processor(images=images, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(normalised(processor, resized_pixels(processor, images)), reference,
                               atol=1e-5, rtol=0)


def test_retrieval_accuracy_counts_diagonal_hits_in_both_directions():
    images = torch.eye(3)
    texts = torch.tensor([[1.0, 0, 0], [1.0, 0.1, 0], [0, 0, 1.0]])  # caption 1 is closest to image 0
    accuracy = retrieval_accuracy(images, texts)
    assert accuracy["caption_to_image"] == pytest.approx(2 / 3)
    # image 0's best caption: 0 (1.0) vs 1 (1.0): argmax takes the first; image 1's best is caption 1
    assert accuracy["image_to_caption"] == pytest.approx(1.0)
    assert accuracy["chance"] == pytest.approx(1 / 3)


def test_rerun_does_nothing_other_settings_are_refused_and_overwrite_replaces(clip_dir, tiny_world, capsys):
    weights = clip_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert main(["pretrain", "clip", "--world", str(tiny_world), "--out", str(clip_dir), *TINY,
                 "--threads", "1"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert weights.stat().st_mtime_ns == before
    assert main(["pretrain", "clip", "--world", str(tiny_world), "--out", str(clip_dir), *TINY,
                 "--seed", "1"]) == 2
    assert "seed 0 -> 1" in capsys.readouterr().err
    assert weights.stat().st_mtime_ns == before
    assert main(["pretrain", "clip", "--world", str(tiny_world), "--out", str(clip_dir), *TINY,
                 "--seed", "1", "--overwrite"]) == 0
    assert json.loads((clip_dir / CLIP_RECORD).read_text())["settings"]["seed"] == 1


def test_foreign_output_directory_is_refused(tiny_world, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["pretrain", "clip", "--world", str(tiny_world), "--out", str(tmp_path), *TINY]) == 2
    assert "holds no output of `florenz pretrain clip`" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_bad_recipe_values_name_the_flag(tiny_world, tmp_path, capsys):
    assert main(["pretrain", "clip", "--world", str(tiny_world), "--out", str(tmp_path / "c"),
                 "--image-size", "30", "--patch-size", "8"]) == 2
    assert "image_size 30 is not a multiple of patch_size 8" in capsys.readouterr().err
    with pytest.raises(FlorenzError, match="no manifest.json"):
        from florenz.pretrain.clip import pretrain_clip
        from florenz.pretrain.config import ClipPretrainConfig

        pretrain_clip(ClipPretrainConfig(world=str(tmp_path), out=str(tmp_path / "c")))
