"""Florenz model: DaViT vision tower, image adapter, BART encoder, BART or Gemma-2 decoder, checkpoints.

Public names are imported on first use (PEP 562), because importing a submodule such as the light
`florenz.model.config` runs this file first, and the CLI must not pay for importing torch to print --help.
Add a public name as one line: "Name": "florenz.model.<module>".
"""

from florenz.lazy import lazy_getattr

_EXPORTS = {
    "apply_freezing": "florenz.model.accounting",
    "BartDecoder": "florenz.model.decoder_bart",
    "BartDecoderConfig": "florenz.model.config",
    "BartEncoder": "florenz.model.encoder",
    "convert_florence2_state_dict": "florenz.model.convert_florence2",
    "count_parameters": "florenz.model.accounting",
    "DaViT": "florenz.model.davit",
    "EncoderConfig": "florenz.model.config",
    "florence2_model_config": "florenz.model.convert_florence2",
    "FlorenzModel": "florenz.model.florenz",
    "forward_flops": "florenz.model.accounting",
    "gemma2_decoder_config": "florenz.model.convert_gemma2",
    "Gemma2Decoder": "florenz.model.decoder_gemma2",
    "Gemma2DecoderConfig": "florenz.model.config",
    "generate": "florenz.model.generation",
    "get_size": "florenz.model.sizes",
    "KVCache": "florenz.model.cache",
    "load_florence2": "florenz.model.convert_florence2",
    "load_gemma2": "florenz.model.convert_gemma2",
    "load_gemma2_weights": "florenz.model.convert_gemma2",
    "load_state_dict_strict": "florenz.model.checkpoint",
    "load_weights": "florenz.model.checkpoint",
    "match_vocabularies": "florenz.model.remap",
    "ModelConfig": "florenz.model.config",
    "parameter_counts": "florenz.model.accounting",
    "remap_embedding": "florenz.model.remap",
    "rename_keys": "florenz.model.checkpoint",
    "save_checkpoint": "florenz.model.checkpoint",
    "SIZES": "florenz.model.sizes",
    "training_compute": "florenz.model.accounting",
    "VisionConfig": "florenz.model.config",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
