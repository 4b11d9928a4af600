"""DaViT against transformers' Florence-2 vision backbone, and its stochastic depth."""

import pytest
import torch
from transformers.models.florence2.configuration_florence2 import Florence2VisionConfig
from transformers.models.florence2.modeling_florence2 import Florence2VisionBackbone

from florenz.model.config import VisionConfig
from florenz.model.davit import DaViT, DropPath

# stride 8 with a stride-1 third stage (the world's shape) and windows that need padding at every stage
WORLD_LIKE = VisionConfig(
    embed_dims=(16, 32, 48), depths=(1, 2, 1), num_heads=(2, 4, 4), num_groups=(2, 4, 3),
    patch_size=(7, 3, 3), patch_stride=(4, 2, 1), patch_padding=(3, 1, 1), patch_prenorm=(False, True, True),
    window_size=3, drop_path_rate=0.0, projection_dim=24)
# Florence-2's four stride-32 stages, narrow
FLORENCE_LIKE = VisionConfig(
    embed_dims=(8, 16, 16, 24), depths=(1, 1, 2, 1), num_heads=(1, 2, 2, 3), num_groups=(1, 2, 2, 3),
    window_size=4, drop_path_rate=0.0, projection_dim=24)


def _hf_backbone(config: VisionConfig) -> Florence2VisionBackbone:
    hf_config = Florence2VisionConfig(
        depths=config.depths, patch_size=config.patch_size, patch_stride=config.patch_stride,
        patch_padding=config.patch_padding, patch_prenorm=config.patch_prenorm, embed_dim=config.embed_dims,
        num_heads=config.num_heads, num_groups=config.num_groups, window_size=config.window_size,
        drop_path_rate=config.drop_path_rate)
    hf_config._attn_implementation = "eager"  # the plain softmax(QK^T)V reference, not SDPA
    backbone = Florence2VisionBackbone(hf_config).eval()
    with torch.no_grad():
        for parameter in backbone.parameters():
            parameter.normal_(0.0, 0.3)  # norms and biases too, so that every parameter is exercised
    return backbone


@pytest.mark.parametrize(("config", "height", "width"), [(WORLD_LIKE, 40, 56), (FLORENCE_LIKE, 96, 64)],
                         ids=["stride8-padded-windows", "stride32"])
def test_davit_matches_transformers_florence2_vision_backbone(config, height, width):
    torch.manual_seed(0)
    reference = _hf_backbone(config)
    ours = DaViT(config).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)  # same parameter names, no renaming
    pixels = torch.randn(2, 3, height, width)
    with torch.no_grad():
        expected = reference(pixels).last_hidden_state  # (B, C, h, w)
        tokens, (h, w) = ours(pixels)
    assert (h, w) == expected.shape[2:]
    torch.testing.assert_close(tokens, expected.flatten(2).transpose(1, 2), atol=1e-4, rtol=1e-4)


def test_drop_path_rates_rise_linearly_over_all_blocks():
    config = VisionConfig(embed_dims=(8, 16), depths=(1, 2), num_heads=(1, 2), num_groups=(1, 2),
                          patch_size=(7, 3), patch_stride=(4, 2), patch_padding=(3, 1),
                          patch_prenorm=(False, True), drop_path_rate=0.5, projection_dim=16)
    tower = DaViT(config)
    rates = [block.drop_path.rate for layers in tower.blocks for layer in layers
             for block in (layer.spatial_block, layer.channel_block)]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])


def test_drop_path_drops_whole_samples_in_training_and_nothing_in_eval():
    torch.manual_seed(0)
    drop = DropPath(0.5)
    x = torch.ones(64, 3, 5)
    dropped = drop(x)
    per_sample = dropped.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}  # kept samples are rescaled by 1/(1 - 0.5)
    assert torch.all(per_sample.min(1).values == per_sample.max(1).values)
    assert torch.equal(drop.eval()(x), x)
