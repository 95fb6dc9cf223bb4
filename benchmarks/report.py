"""Targets, the Markdown table and the plots of one benchmark run."""

from __future__ import annotations

from pathlib import Path

TARGETS = (
    ("REST / onnxruntime loop, sd15 256x256/10", "rest_vs_ort_sd15", "<=", 1.05),
    ("REST / diffusers PyTorch, sd15 256x256/10", "rest_vs_pytorch_sd15", "<=", 0.6),
    ("throughput 8 clients / 1 client, tiny 256x256/20", "throughput_8_vs_1", ">=", 1.5),
    ("frontend overhead p50 (ms), PNG excluded", "frontend_overhead_p50_ms", "<=", 5.0),
)


def _p50(run: dict, model: str, system: str) -> float | None:
    try:
        return run[model]["end_to_end"][system]["p50_s"]
    except KeyError:
        return None


def targets(run: dict) -> dict:
    values: dict[str, float | None] = {}
    rest, ort, torch = (
        _p50(run, "sd15", s) for s in ("REST frontend", "onnxruntime loop", "diffusers PyTorch")
    )
    values["rest_vs_ort_sd15"] = round(rest / ort, 3) if rest and ort else None
    values["rest_vs_pytorch_sd15"] = round(rest / torch, 3) if rest and torch else None
    levels = {level["clients"]: level["images_per_s"] for level in run["tiny"].get("throughput", [])}
    values["throughput_8_vs_1"] = round(levels[8] / levels[1], 3) if 8 in levels and 1 in levels else None
    overhead = run["tiny"].get("frontend_overhead", {}).get("overhead_ms", {})
    values["frontend_overhead_p50_ms"] = round(overhead["p50_s"], 2) if overhead else None
    results = {}
    for label, key, op, bound in TARGETS:
        value = values[key]
        met = None if value is None else (value <= bound if op == "<=" else value >= bound)
        results[key] = {"label": label, "value": value, "target": f"{op} {bound}", "met": met}
    return results


def markdown(run: dict) -> str:
    machine = run["machine"]
    lines = [
        f"Run {run['started']} on {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"GPU: {machine['gpu']}; torch {machine['versions']['torch']}, onnxruntime "
        f"{machine['versions']['onnxruntime']}, diffusers {machine['versions']['diffusers']}, "
        f"tritonserver {machine['tritonserver']}.",
        "",
    ]
    for model in ("tiny", "sd15"):
        if model not in run:
            continue
        result = run[model]
        torch = result["end_to_end"]["diffusers PyTorch"]["p50_s"]
        lines += [
            f"**{model}**, {result['size']}x{result['size']}, {result['steps']} steps, Euler, guidance 7.5, "
            f"seed {result['seed']}, one image:",
            "",
            "| system | p50 (s) | p95 (s) | runs | vs diffusers PyTorch |",
            "|---|---|---|---|---|",
        ]
        for name, values in result["end_to_end"].items():
            lines.append(
                f"| {name} | {values['p50_s']:.3f} | {values['p95_s']:.3f} | {values['n']} | "
                f"{values['p50_s'] / torch:.2f}x |"
            )
        stages = result["stages"]
        ms = {k: v * 1000 for k, v in stages.items() if k.endswith("_s")}
        # REST minus gRPC is only meaningful where generation noise is small: the dedicated 1-step run.
        overhead = result.get("frontend_overhead", {}).get("overhead_ms")
        frontend = (
            f"{overhead['p50_s']:.1f} ms p50 / {overhead['p95_s']:.1f} ms p95 "
            f"(REST - gRPC - PNG, 1-step requests, {overhead['n']} pairs)"
            if overhead
            else "below the run-to-run noise here (see tiny)"
        )
        lines += [
            "",
            f"Stages ({model}): text encoder {ms['text_encoder_s']:.1f} ms, UNet "
            f"{ms['unet_per_step_s']:.1f} ms/step ({stages['unet_calls']} calls), VAE decode "
            f"{ms['vae_decode_s']:.1f} ms, loop overhead {ms['loop_overhead_s']:.1f} ms, "
            f"BLS overhead {ms['bls_overhead_per_step_s']:.1f} ms/step, PNG encoding "
            f"{ms['png_encode_s']:.1f} ms, frontend {frontend}.",
            "",
        ]
    if run["tiny"].get("throughput"):
        lines += ["| REST clients (tiny) | requests | images/s | p50 latency (s) |", "|---|---|---|---|"]
        for level in run["tiny"]["throughput"]:
            lines.append(
                f"| {level['clients']} | {level['requests']} | {level['images_per_s']:.3f} | "
                f"{level['latency']['p50_s']:.3f} |"
            )
        lines.append("")
    if run.get("ort_variants"):
        lines += [
            "| onnxruntime (sd15 UNet step, batch 2) | threads | spinning | p50 (s) |",
            "|---|---|---|---|",
        ]
        for v in run["ort_variants"]:
            mark = " (serving default)" if v["serving_default"] else ""
            threads, spinning = v["intra_op_threads"], v["spinning"]
            lines.append(f"| {v['optimization']}{mark} | {threads} | {spinning} | {v['step_p50_s']} |")
        lines.append("")
    lines += ["| target | measured | target | met |", "|---|---|---|---|"]
    for target in run["targets"].values():
        met = "n/a" if target["met"] is None else ("yes" if target["met"] else "**no**")
        lines.append(f"| {target['label']} | {target['value']} | {target['target']} | {met} |")
    return "\n".join(lines) + "\n"


def plots(run: dict, results: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tiny = run["tiny"]
    if tiny.get("latency_vs_steps"):
        figure, axis = plt.subplots(figsize=(6, 4))
        steps = sorted(int(s) for s in tiny["latency_vs_steps"])
        for system in tiny["latency_vs_steps"][str(steps[0])]:
            axis.plot(
                steps, [tiny["latency_vs_steps"][str(s)][system]["p50_s"] for s in steps], "o-", label=system
            )
        axis.set(xlabel="denoising steps", ylabel="p50 latency (s)", title="tiny 256x256: latency vs steps")
        axis.grid(alpha=0.3)
        axis.legend()
        figure.tight_layout()
        figure.savefig(results / "latency_vs_steps.png", dpi=110)
        plt.close(figure)
    if tiny.get("throughput"):
        figure, axis = plt.subplots(figsize=(6, 4))
        clients = [level["clients"] for level in tiny["throughput"]]
        axis.plot(
            clients, [level["images_per_s"] for level in tiny["throughput"]], "o-", label="REST frontend"
        )
        axis.set(
            xlabel="concurrent clients",
            ylabel="images / s",
            title="tiny 256x256/20: throughput vs concurrency",
        )
        axis.set_xticks(clients)
        axis.grid(alpha=0.3)
        axis.legend()
        figure.tight_layout()
        figure.savefig(results / "throughput_vs_concurrency.png", dpi=110)
        plt.close(figure)


def main() -> int:
    """Re-render latest.md and the plots from a results JSON (python -m benchmarks.report [FILE])."""
    import json
    import sys

    results = Path(__file__).resolve().parent / "results"
    run = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else results / "latest.json").read_text())
    (results / "latest.md").write_text(markdown(run))
    plots(run, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
