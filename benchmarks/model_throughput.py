"""Training-step speed of the models: forward + backward tokens/s and MFU; prints tables and writes JSON.

    python benchmarks/model_throughput.py                   # all cores, fp32 and bf16 autocast
    python benchmarks/model_throughput.py --threads 1 --steps 3
    python benchmarks/model_throughput.py --threads 1 --parts gemma --precisions fp32   # ours vs transformers
    python benchmarks/model_throughput.py --parts gemma --precisions fp32 --compile  # and ours compiled
    python benchmarks/model_throughput.py --device cuda      # also the paper's 3.5B decoder layers on a GPU

Measured in one run:
1. the machine's matmul peak in float32 and bfloat16: best of several 2048² products on the threads used;
2. three ladder sizes (Florenz models, vision tower frozen by the paper's policy) at world lengths;
3. transformers' `Gemma2ForCausalLM` beside our `Gemma2Decoder` on the same config (d 384, 8 layers,
   vocab 8192, batch 8 × 64 tokens), text-only, steps interleaved; the ratio ours/theirs should be ≥ 1.
   Beside it, where each step's time goes: the share in matrix products (torch.profiler self CPU time), and
   the ratio ours would reach with no time outside them (the same products run in both); with --compile
   also ours under torch.compile, its ratio and the seconds its compilation takes;
4. attention kernels: eager against fused (SDPA) on a BART ladder size (CPU: which `auto` picks);
5. with --device cuda: fused (FlexAttention) against eager on CUDA, equal first, then the training-step MFU
   of 4 Gemma-2-2b-shaped decoder layers with cross-attention (the paper's 3.5B size) against the GPU's
   measured bf16 peak; FLOPs there are the analytic 3 x forward (florenz.model.accounting).
MFU = FLOPs of one step counted by `torch.utils.flop_counter` (forward and backward) / step time / the
peak of the step's dtype. Step time is the median over the measured steps. Compare ratios within one run,
never absolute times from different runs or machines.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count
from transformers import Gemma2Config, Gemma2ForCausalLM

from florenz.model.accounting import apply_freezing, count_parameters, forward_flops, gemma2_decoder_flops
from florenz.model.config import Gemma2DecoderConfig
from florenz.model.decoder_gemma2 import Gemma2Decoder
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size

from common import environment, matmul_peak, print_table, synchronize, write_result

LADDER_SIZES = ("world-s", "world-m", "world-m-gemma")
PARTS = ("ladder", "gemma", "attention")  # the CPU measurements, in the order they run
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
aten = torch.ops.aten


def _cpu_sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None,
                       **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# torch's FLOP counter knows the GPU fused-attention kernels but not the CPU one
CPU_ATTENTION_FLOPS = {aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa,
                       aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward}


def _autocast(dtype: torch.dtype, device: torch.device):
    return nullcontext() if dtype == torch.float32 else torch.autocast(device.type, dtype=dtype)


def _train_step(forward: Callable[[], torch.Tensor], labels: torch.Tensor, model: torch.nn.Module,
                dtype: torch.dtype, device: torch.device) -> Callable[[], None]:
    """One forward + cross-entropy + backward; gradients are dropped each step (no optimizer)."""
    def step() -> None:
        model.zero_grad(set_to_none=True)
        with _autocast(dtype, device):
            logits = forward()  # (B, T, V) float32
        F.cross_entropy(logits.flatten(0, 1), labels.flatten()).backward()
    return step


def _step_flops(step: Callable[[], None]) -> int:
    with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS) as counter:
        step()
    return counter.get_total_flops()


MATMULS = {"aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm"}


def _matmul_share(step: Callable[[], None], repeats: int = 2) -> tuple[float, float]:
    """(CPU seconds of the matrix products, CPU seconds of everything) over `repeats` steps, by the profiler's
    self times: where a step's time goes."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for _ in range(repeats):
            step()
    events = profiler.key_averages()
    matmul = sum(event.self_cpu_time_total for event in events if event.key in MATMULS)
    return matmul / 1e6, sum(event.self_cpu_time_total for event in events) / 1e6


def _step_seconds(steps: list[Callable[[], None]], repeats: int, device: torch.device) -> list[float]:
    """Median seconds of each step function, run interleaved (one of each per round) after a warm-up round."""
    times: list[list[float]] = [[] for _ in steps]
    for round_index in range(repeats + 1):
        for step, samples in zip(steps, times):
            synchronize(device)
            started = time.perf_counter()
            step()
            synchronize(device)
            if round_index:  # the first round warms up allocator and kernels
                samples.append(time.perf_counter() - started)
    return [statistics.median(samples) for samples in times]


def bench_ladder_size(name: str, batch: int, prompt: int, target: int, dtype_name: str, repeats: int,
                      peaks: dict[str, float], device: torch.device) -> dict:
    """Forward + backward speed of one ladder size under the paper's freezing policy."""
    config = get_size(name)
    torch.manual_seed(0)
    model = FlorenzModel(config).to(device)
    apply_freezing(model)
    model.train()
    V = config.decoder.vocab_size
    pixel_values = torch.randn(batch, 3, config.image_size, config.image_size, device=device)
    input_ids = torch.randint(4, V, (batch, prompt), device=device)
    decoder_input_ids = torch.randint(4, V, (batch, target), device=device)
    labels = torch.randint(4, V, (batch, target), device=device)
    step = _train_step(lambda: model(pixel_values, input_ids, torch.ones_like(input_ids), decoder_input_ids),
                       labels, model, DTYPES[dtype_name], device)
    flops = _step_flops(step)
    (seconds,) = _step_seconds([step], repeats, device)
    total, trainable = count_parameters(model)
    return {"size": name, "dtype": dtype_name, "P": total, "Pt": trainable, "batch": batch,
            "prompt_tokens": prompt, "target_tokens": target, "step_seconds": round(seconds, 4),
            "samples_per_second": round(batch / seconds, 1),
            "tokens_per_second": round(batch * target / seconds), "step_flops": flops,
            "analytic_forward_flops": forward_flops(config, None, prompt, target) * batch,
            "mfu": round(flops / seconds / peaks[dtype_name], 4)}


def _gemma_configs() -> tuple[Gemma2Config, Gemma2DecoderConfig]:
    """The comparison config of dependencies.md: 20.5M parameters, d 384, 8 layers, vocab 8192."""
    shape = dict(vocab_size=8192, hidden_size=384, intermediate_size=1536, num_hidden_layers=8,
                 num_attention_heads=6, num_key_value_heads=2, head_dim=64, query_pre_attn_scalar=64,
                 sliding_window=4096, max_position_embeddings=512)
    return Gemma2Config(**shape, attn_implementation="eager"), Gemma2DecoderConfig(**shape)


def bench_gemma_pair(batch: int, tokens: int, dtype_name: str, repeats: int, peaks: dict[str, float],
                     device: torch.device, compiled: bool = False) -> dict:
    """transformers' Gemma-2 against ours on the same weights, text-only, steps interleaved; with `compiled`
    also ours under torch.compile (its first step, the compilation, timed apart)."""
    hf_config, our_config = _gemma_configs()
    torch.manual_seed(0)
    theirs = Gemma2ForCausalLM(hf_config).to(device).train()
    ours = Gemma2Decoder(our_config, encoder_hidden_size=hf_config.hidden_size).to(device).train()
    weights = {name.removeprefix("model."): tensor for name, tensor in theirs.state_dict().items()
               if name != "lm_head.weight"}  # the head is tied to the embedding in both
    missing, unexpected = ours.load_state_dict(weights, strict=False)
    assert not unexpected and all("encoder_attn" in name or "encoder_attention" in name for name in missing)
    input_ids = torch.randint(0, hf_config.vocab_size, (batch, tokens), device=device)
    labels = torch.randint(0, hf_config.vocab_size, (batch, tokens), device=device)
    with torch.no_grad():
        difference = (theirs(input_ids).logits.float() - ours(input_ids)).abs().max().item()
    dtype = DTYPES[dtype_name]
    steps = [_train_step(lambda: theirs(input_ids).logits.float(), labels, theirs, dtype, device),
             _train_step(lambda: ours(input_ids), labels, ours, dtype, device)]
    flops = [_step_flops(step) for step in steps]
    compiled_row = {}
    if compiled:
        compiled_ours = torch.compile(ours)
        steps.append(_train_step(lambda: compiled_ours(input_ids), labels, ours, dtype, device))
        started, cpu_started = time.perf_counter(), time.process_time()
        steps[-1]()
        compiled_row = {"compile_seconds": round(time.perf_counter() - started, 1),
                        "compile_cpu_seconds": round(time.process_time() - cpu_started, 1)}
    hf_seconds, our_seconds, *compiled_seconds = _step_seconds(steps, repeats, device)
    (hf_matmul, hf_total), (our_matmul, our_total) = (_matmul_share(step) for step in steps[:2])
    ratio = hf_seconds / our_seconds
    if compiled:
        compiled_row["compiled_ratio"] = round(hf_seconds / compiled_seconds[0], 3)
    return {**compiled_row, "dtype": dtype_name, "batch": batch, "tokens": tokens,
            "P": count_parameters(theirs)[0],
            "max_logit_difference_fp32": difference,
            "transformers_tokens_per_second": round(batch * tokens / hf_seconds),
            "florenz_tokens_per_second": round(batch * tokens / our_seconds),
            "transformers_mfu": round(flops[0] / hf_seconds / peaks[dtype_name], 4),
            "florenz_mfu": round(flops[1] / our_seconds / peaks[dtype_name], 4),
            "ratio": round(ratio, 3),
            "transformers_matmul_share": round(hf_matmul / hf_total, 3),
            "florenz_matmul_share": round(our_matmul / our_total, 3),
            # the ratio if ours spent no time outside matrix products (the interleaved ratio over our share:
            # the profiles run one after the other, so their absolute times are not compared)
            "matmul_ceiling": round(ratio * our_total / our_matmul, 3)}


def bench_attention_kernels(name: str, batch: int, repeats: int, device: torch.device) -> dict:
    """Eager against fused attention on the same weights, fp32 training steps interleaved."""
    config = get_size(name)
    torch.manual_seed(0)
    models = [FlorenzModel(dataclasses.replace(config, attention=kernel)).to(device) for kernel in
              ("eager", "fused")]
    models[1].load_state_dict(models[0].state_dict())
    V = config.decoder.vocab_size
    pixel_values = torch.randn(batch, 3, config.image_size, config.image_size, device=device)
    input_ids = torch.randint(4, V, (batch, 24), device=device)
    decoder_input_ids, labels = (torch.randint(4, V, (batch, 32), device=device) for _ in range(2))
    steps = []
    for model in models:
        apply_freezing(model)
        model.train()
        steps.append(_train_step(lambda m=model: m(pixel_values, input_ids, torch.ones_like(input_ids),
                                                    decoder_input_ids), labels, model, torch.float32, device))
    eager_seconds, fused_seconds = _step_seconds(steps, repeats, device)
    return {"size": name, "batch": batch, "eager_step_seconds": round(eager_seconds, 4),
            "fused_step_seconds": round(fused_seconds, 4),
            "fused_speedup": round(eager_seconds / fused_seconds, 3)}


PAPER_LAYERS = 4  # Gemma-2-2b-shaped layers of florenz-3.5b; the full 26 only scale the step


def bench_paper_layers_cuda(batch: int, repeats: int, peaks: dict[str, float], device: torch.device) -> dict:
    """florenz-3.5b decoder layers (hidden 2304, 8/4 heads of 256, MLP 9216, cross-attention to width 1024,
    vocabulary 256,000) under bf16 autocast: fused equal to eager, then each one's MFU."""
    if device.type != "cuda":
        raise SystemExit("the paper-layer MFU needs --device cuda and a CUDA GPU; on CPU the checks of "
                         "tests/model/test_attention.py stand")
    paper = get_size("florenz-3.5b")
    decoder_config = dataclasses.replace(paper.decoder, num_hidden_layers=PAPER_LAYERS)
    encoder_width, target = paper.encoder.d_model, 128
    prompt = paper.vision.num_image_tokens(paper.image_size) + 128  # encoder length S: 50 image + 128 prompt
    torch.manual_seed(0)
    decoders = [Gemma2Decoder(decoder_config, encoder_width, attention).to(device) for attention in
                ("eager", "fused")]
    decoders[1].load_state_dict(decoders[0].state_dict())
    with torch.no_grad():
        for decoder in decoders:
            for layer in decoder.layers:
                layer.encoder_attn_gate.fill_(1.0)  # open gates: cross-attention reaches the logits
    ids = torch.randint(4, decoder_config.vocab_size, (batch, target), device=device)
    labels = torch.randint(4, decoder_config.vocab_size, (batch, target), device=device)
    encoder_hidden = torch.randn(batch, prompt, encoder_width, device=device)
    encoder_mask = torch.ones(batch, prompt, dtype=torch.long, device=device)
    encoder_mask[0, prompt // 2:] = 0
    gradients = []
    for decoder in decoders:  # fp32 equality of logits and gradients before timing
        decoder.zero_grad(set_to_none=True)
        logits = decoder(ids[:2], encoder_hidden[:2], encoder_mask[:2])
        F.cross_entropy(logits.flatten(0, 1), labels[:2].flatten()).backward()
        gradients.append((logits.detach(), {n: p.grad for n, p in decoder.named_parameters()}))
    (eager_logits, eager_gradients), (fused_logits, fused_gradients) = gradients
    logit_difference = (eager_logits - fused_logits).abs().max().item()
    largest = max(gradient.abs().max().item() for gradient in eager_gradients.values())
    gradient_difference = max((eager_gradients[name] - gradient).abs().max().item() / largest
                              for name, gradient in fused_gradients.items())
    steps = [_train_step(lambda d=decoder: d(ids, encoder_hidden, encoder_mask), labels, decoder,
                         torch.bfloat16, device) for decoder in decoders]
    seconds = _step_seconds(steps, repeats, device)
    step_flops = 3 * batch * gemma2_decoder_flops(decoder_config, encoder_width, prompt, target)
    return {"layers": PAPER_LAYERS, "batch": batch, "target_tokens": target, "encoder_tokens": prompt,
            "max_logit_difference_fp32": logit_difference,
            "max_relative_gradient_difference_fp32": gradient_difference,
            "eager_mfu": round(step_flops / seconds[0] / peaks["bf16"], 4),
            "fused_mfu": round(step_flops / seconds[1] / peaks["bf16"], 4),
            "fused_tokens_per_second": round(batch * target / seconds[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads")
    parser.add_argument("--steps", type=int, default=5, help="measured steps per configuration")
    parser.add_argument("--batch", type=int, default=16, help="batch of the ladder sizes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (cuda adds the paper's 3.5B decoder layers: MFU at the bf16 peak)")
    parser.add_argument("--json", default="benchmarks/results/model_throughput.json",
                        help="where to write results")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma list of the CPU measurements to run: "
                                                                  + ", ".join(PARTS))
    parser.add_argument("--precisions", default=",".join(DTYPES),
                        help="fp32 and/or bf16 (bf16 is emulated, and very slow, on CPUs without it)")
    parser.add_argument("--compile", action="store_true",
                        help="gemma part: also time ours under torch.compile, and how long compiling takes")
    args = parser.parse_args()
    parts, precisions = args.parts.split(","), args.precisions.split(",")
    if unknown := set(parts) - set(PARTS):
        parser.error(f"--parts {args.parts}: {sorted(unknown)} unknown; choose from {', '.join(PARTS)}")
    if unknown := set(precisions) - set(DTYPES):
        parser.error(f"--precisions {args.precisions}: {sorted(unknown)} unknown; use fp32 and/or bf16")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU is available here (torch "
                         f"{torch.__version__}); run on a GPU machine or use --device cpu")

    peaks = {name: matmul_peak(DTYPES[name], device) for name in precisions}
    env = environment(args.threads, device, packages=["transformers"])
    print(f"hardware: {env['hardware']}\nversions: {env['versions']}")
    print("matmul peak (2048²): "
          + ", ".join(f"{name} {peak / 1e9:.0f} GFLOP/s" for name, peak in peaks.items()))

    # world lengths: a 24-token prompt after the image tokens, 32 target tokens
    ladder, gemma, attention = [], [], []
    if "ladder" in parts:
        ladder = [bench_ladder_size(name, args.batch, 24, 32, dtype, args.steps, peaks, device)
                  for name in LADDER_SIZES for dtype in precisions]
        print("\nforward + backward, vision tower frozen (paper's policy):")
        print_table(ladder, ["size", "dtype", "P", "Pt", "batch", "samples_per_second", "tokens_per_second",
                             "mfu"])
    if "gemma" in parts:
        gemma = [bench_gemma_pair(8, 64, dtype, args.steps, peaks, device, args.compile)
                 for dtype in precisions]
        print("\nGemma-2 decoder, d 384, 8 layers, vocab 8192, batch 8 x 64, forward + backward "
              "(ratio = ours/theirs, issue 19's target >= 1.2; matmul shares of each step's profiled CPU "
              "time, and the ratio if ours spent nothing outside matrix products):")
        print_table(gemma, ["dtype", "transformers_tokens_per_second", "florenz_tokens_per_second", "ratio",
                            "transformers_matmul_share", "florenz_matmul_share", "matmul_ceiling",
                            "transformers_mfu", "florenz_mfu", "max_logit_difference_fp32"]
                    + (["compiled_ratio", "compile_seconds", "compile_cpu_seconds"] if args.compile else []))
    if "attention" in parts:
        attention = [bench_attention_kernels("world-s", args.batch, args.steps, device)]
        print("\nattention kernels, fp32 forward + backward (fused: SDPA for the BART kind):")
        print_table(attention, ["size", "batch", "eager_step_seconds", "fused_step_seconds",
                                "fused_speedup"])

    paper = []
    if device.type == "cuda":
        peaks.setdefault("bf16", matmul_peak(DTYPES["bf16"], device))  # the paper layers' MFU is in bf16
        paper = [bench_paper_layers_cuda(8, args.steps, peaks, device)]
        print(f"\nflorenz-3.5b decoder, {PAPER_LAYERS} layers, bf16 autocast, forward + backward:")
        print_table(paper, ["layers", "batch", "eager_mfu", "fused_mfu", "fused_tokens_per_second",
                            "max_logit_difference_fp32", "max_relative_gradient_difference_fp32"])

    write_result(args.json, {"benchmark": "model_throughput", "date": time.strftime("%Y-%m-%d"), **env,
                             "matmul_peak_flops": peaks, "ladder": ladder, "gemma2_vs_transformers": gemma,
                             "attention_kernels": attention, "paper_layers_cuda": paper})


if __name__ == "__main__":
    main()
