"""`--precision int8` on the OpenVINO backends: the denoiser quantized to int8 weights and activations by
NNCF's post-training quantization, calibrated on the denoiser's own inputs while the exported model (its
FP32 IR) generates a few pictures. The denoiser is where nearly all the time goes; the text
encoders and the VAE stay as `auto` runs them.

Calibrating on real denoising inputs (latents at every noise level of the schedule, the text encoder's
states for real prompts, classifier-free guidance's empty prompt) rather than random tensors sets each
activation's int8 range from values the served model will see, for every family, because the project's
own loop produces them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import openvino as ov
import torch
from tqdm import tqdm

from t2i.contract import ModelSpec
from t2i.onnx_networks import local_pipeline
from t2i.openvino_networks import OpenVinoNetworks
from t2i.request import GenerationRequest, Loras

# Prompts of the kinds users send (subjects, scenes, the shapes model's own vocabulary), one seed each.
CALIBRATION_PROMPTS = (
    "a red circle on a blue background",
    "a photograph of a cat sitting on a wooden table",
    "a mountain lake at sunset, oil painting",
    "two green squares and a yellow triangle",
)
# Steps per calibration picture: enough to visit the whole schedule's noise levels, few enough that the
# FP32 generation stays a minute or two on a full-size model. Every fourth denoiser call is held out to
# verify on (VERIFICATION_SAMPLES of them); NNCF runs the model once per sample and pass on the rest.
CALIBRATION_STEPS = 12
VERIFICATION_SAMPLES = 4


class RecordingNetworks:
    """`t2i.denoise.Networks` that runs another and keeps a copy of the denoiser's inputs of each call."""

    def __init__(self, networks: OpenVinoNetworks, denoiser: str):
        self.networks, self.denoiser = networks, denoiser
        self.device = networks.device
        self.samples: list[dict[str, np.ndarray]] = []

    def run(
        self, spec: ModelSpec, inputs: Mapping[str, torch.Tensor], loras: Loras = ()
    ) -> dict[str, torch.Tensor]:
        if spec.name == self.denoiser:
            self.samples.append({t.name: inputs[t.name].numpy().copy() for t in spec.inputs})
        return self.networks.run(spec, inputs, loras)


def denoising_samples(
    repository: Path, served: str, denoiser: str
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """The denoiser's inputs while the served model's FP32 IR generates CALIBRATION_PROMPTS: samples to
    calibrate on, and held-out ones (other steps) to verify the quantized network on. Verification on the
    export's random inputs would measure activations outside every range a served request reaches."""
    recorder = RecordingNetworks(OpenVinoNetworks(repository, served, "fp32"), denoiser)
    pipeline = local_pipeline(repository, served, recorder)
    # Minutes on a full-size model at 512 and over (in FP32): said as it goes, under the export's own bar.
    pictures = tqdm(CALIBRATION_PROMPTS, desc=f"int8 calibration of {served}", unit="picture", leave=False)
    for seed, prompt in enumerate(pictures):
        pipeline(GenerationRequest(prompt, seed=seed, steps=CALIBRATION_STEPS, model=served))
    samples = recorder.samples
    held_out = samples[3::4]
    calibration = [sample for index, sample in enumerate(samples) if index % 4 != 3]
    return calibration, held_out[:: max(1, len(held_out) // VERIFICATION_SAMPLES)][:VERIFICATION_SAMPLES]


def quantize_int8(ir_path: Path, samples: list[dict[str, np.ndarray]]) -> None:
    """Quantize the IR in place. MIXED: symmetric int8 weights, asymmetric activations (after SiLU and
    GELU they are far from symmetric); TRANSFORMER: attention's matmuls handled as in transformers, with
    SmoothQuant moving activation outliers into the weights."""
    import nncf  # heavy, and only int8 exports need it

    model = ov.Core().read_model(str(ir_path))
    quantized = nncf.quantize(
        model,
        nncf.Dataset(samples),
        preset=nncf.QuantizationPreset.MIXED,
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(samples),
    )
    # The read model maps ir_path's .bin: write beside it, then replace.
    staged = ir_path.with_name("int8_" + ir_path.name)
    ov.save_model(quantized, str(staged), compress_to_fp16=False)
    del model, quantized
    for suffix in (".xml", ".bin"):
        staged.with_suffix(suffix).replace(ir_path.with_suffix(suffix))
