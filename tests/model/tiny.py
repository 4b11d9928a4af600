"""Tiny model parts shared by the FlorenzModel tests: a two-stage DaViT, a two-layer encoder, no dropout."""

from florenz.model.config import EncoderConfig, VisionConfig

NO_DROPOUT = dict(dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)
VISION = VisionConfig(embed_dims=(8, 16), depths=(1, 1), num_heads=(1, 2), num_groups=(1, 2),
                      patch_size=(7, 3), patch_stride=(4, 2), patch_padding=(3, 1),
                      patch_prenorm=(False, True), window_size=3, drop_path_rate=0.0, projection_dim=32)
ENCODER = EncoderConfig(vocab_size=50, d_model=32, layers=2, attention_heads=4, ffn_dim=64,
                        max_position_embeddings=64, **NO_DROPOUT)
