#!/usr/bin/env python3
"""The PyTorch baseline of `npm run gpu-check`: Block Influence the way the
ShortGPT reference code computes it, on the same GPU and the same token ids.

A Hugging Face transformers LlamaForCausalLM with Llama-3.1-8B's shape, its
weights random bf16 made directly on the GPU (nothing is downloaded; the
numbers are for timing only, the weights are not those of the GGUF file),
runs the windows with output_hidden_states=True and BI is computed from the
hidden states as the ShortGPT reference implementation does it
(sramshetty/ShortGPT, `block_influence`: cosine from the diagonal of the full
product of the flattened states, NaN read as 0.5), and also row by row (the
same numbers without the quadratic product). A 512-token prefill is timed too.

    python3 torch_bi.py --ids ids.bin --windows 64 --ctx 256 --prompt 512 --out torch.json

ids.bin holds int32 token ids: windows*ctx calibration ids, then `prompt` ids.
Prints nothing but progress on stderr; writes one JSON object to --out.
"""
import argparse
import json
import statistics
import sys
import time


def log(msg):
    print(f"torch_bi: {msg}", file=sys.stderr, flush=True)


def block_influence_reference(inp, out):
    """sramshetty/ShortGPT short_hf.py block_influence (angular=False), as published."""
    _, _, d = inp.shape
    inp = inp.reshape(-1, d)
    out = out.reshape(-1, d)
    norm_input = inp.norm(dim=-1, keepdim=True)
    norm_output = out.norm(dim=-1, keepdim=True)
    sim = (inp @ out.T) / (norm_input * norm_output)
    sim = sim.diagonal().nan_to_num(nan=0.5)
    return 1 - sim


def block_influence_rowwise(inp, out):
    """The same cosine per row, without the (rows x rows) product."""
    import torch

    d = inp.shape[-1]
    inp = inp.reshape(-1, d).float()
    out = out.reshape(-1, d).float()
    sim = torch.nn.functional.cosine_similarity(inp, out, dim=-1).nan_to_num(nan=0.5)
    return 1 - sim


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ids", required=True)
    p.add_argument("--windows", type=int, default=64)
    p.add_argument("--ctx", type=int, default=256)
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", required=True)
    a = p.parse_args()

    import numpy as np
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    result = {"torch": torch.__version__, "transformers": transformers.__version__}
    if not torch.cuda.is_available():
        result["error"] = "torch sees no CUDA device"
        json.dump(result, open(a.out, "w"), indent=2)
        return 3
    dev = torch.device("cuda")
    result["device"] = torch.cuda.get_device_name(0)
    ids = np.fromfile(a.ids, dtype=np.int32)
    need = a.windows * a.ctx + a.prompt
    if ids.size != need:
        raise SystemExit(f"{a.ids}: {ids.size} ids, expected {need}")
    windows = torch.from_numpy(ids[: a.windows * a.ctx].astype(np.int64)).view(a.windows, a.ctx).to(dev)
    prompt = torch.from_numpy(ids[a.windows * a.ctx :].astype(np.int64)).view(1, a.prompt).to(dev)

    # Llama-3.1-8B's shape (meta-llama/Llama-3.1-8B config.json).
    config = LlamaConfig(
        vocab_size=128256,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        max_position_embeddings=8192,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
    )
    t = time.perf_counter()
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with dev:
        model = LlamaForCausalLM(config)
    model.eval()
    torch.cuda.synchronize()
    result["dtype"] = "bfloat16"
    result["parameters"] = sum(p.numel() for p in model.parameters())
    result["setupSeconds"] = time.perf_counter() - t
    log(f"model ready: {result['parameters'] / 1e9:.2f} B parameters in {result['setupSeconds']:.1f} s")

    def score(bi_fn):
        with torch.inference_mode():
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            hidden = model(windows, output_hidden_states=True).hidden_states
            sums = [bi_fn(hidden[i], hidden[i + 1]).float().mean() for i in range(len(hidden) - 1)]
            bi = torch.stack(sums).tolist()
            torch.cuda.synchronize()
            return time.perf_counter() - t0, bi

    torch.cuda.reset_peak_memory_stats()
    runs = {}
    for name, fn in (("reference", block_influence_reference), ("rowwise", block_influence_rowwise)):
        score(fn)  # warm-up
        times = []
        bi = None
        for _ in range(a.runs):
            s, bi = score(fn)
            times.append(s)
        runs[name] = {"seconds": times, "median": statistics.median(times), "bi": bi}
        log(f"score {a.windows}x{a.ctx} ({name} BI): median {runs[name]['median']:.3f} s")
    result["score"] = {"windows": a.windows, "ctx": a.ctx, **runs}
    result["scorePeakMemoryBytes"] = torch.cuda.max_memory_allocated()

    def prefill():
        with torch.inference_mode():
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            try:
                model(prompt, logits_to_keep=1)
            except TypeError:
                model(prompt)
            torch.cuda.synchronize()
            return time.perf_counter() - t0

    prefill()
    times = [prefill() for _ in range(max(a.runs, 5))]
    result["prefill"] = {"tokens": a.prompt, "seconds": times, "median": statistics.median(times)}
    log(f"prefill {a.prompt}: median {result['prefill']['median'] * 1000:.1f} ms")
    result["peakMemoryBytes"] = torch.cuda.max_memory_allocated()
    json.dump(result, open(a.out, "w"), indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
