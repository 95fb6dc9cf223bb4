"""The torch backend over a tiny SD folder and a LoRA for it, both built here with diffusers' and peft's
classes: FP32 images equal the onnxruntime export's and diffusers'; with `loras` they equal diffusers'
`load_lora_weights` + `set_adapters`, and requests without adapters never see one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from export.cli import main
from export.components import load_checkpoint
from t2i import contract
from t2i.denoise import DenoisingPipeline, batch_key
from t2i.onnx_networks import local_pipeline
from t2i.request import GenerationRequest, InvalidRequest
from t2i.torch_networks import TorchNetworks
from tests.loras import make_lora, tiny_sd_folder

PROMPT = "a red circle on a blue background"
SCALE = 0.8


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_sd_folder(tmp_path_factory.mktemp("torch") / "tiny-sd")


@pytest.fixture(scope="module")
def lora(folder: Path) -> Path:
    return make_lora(folder, folder.parent / "style-lora", text_encoder=False)


@pytest.fixture(scope="module")
def repository(folder: Path, lora: Path) -> Path:
    repository = folder.parent / "repo"
    assert (
        main(["--model", str(folder), "--output", str(repository), "--backend", "torch", "--name", "sd"]) == 0
    )
    assert main(["--lora", str(lora), "--name", "style", "--output", str(repository)]) == 0
    assert main(["--model", str(folder), "--output", str(repository), "--name", "sd-onnx"]) == 0
    return repository


@pytest.fixture(scope="module")
def served(repository: Path) -> DenoisingPipeline:
    return local_pipeline(repository, "sd", TorchNetworks(repository, "sd"))


def request(**fields: Any) -> GenerationRequest:
    fields = {
        "prompt": PROMPT,
        "width": 64,
        "height": 64,
        "steps": 4,
        "seed": 3,
        "guidance_scale": 6.0,
    } | fields
    return GenerationRequest(**fields)


def diffusers_images(pipe: Any, req: GenerationRequest) -> np.ndarray:
    return pipe(
        req.prompt,
        height=req.height,
        width=req.width,
        num_inference_steps=req.steps,
        guidance_scale=req.guidance_scale,
        num_images_per_prompt=req.num_images,
        generator=[torch.Generator().manual_seed(req.seed + i) for i in range(req.num_images)],
        output_type="np",
    ).images


@pytest.fixture(scope="module")
def reference(folder: Path, lora: Path) -> Any:
    pipe = load_checkpoint(folder).diffusers_pipeline()
    pipe.load_lora_weights(lora, adapter_name="style")
    return pipe


def test_the_repository_lists_the_adapter_and_the_backend(repository: Path) -> None:
    meta = json.loads((contract.model_assets_dir(repository, "sd") / contract.METADATA_FILENAME).read_text())
    assert (meta["backend"], meta["loras"]) == ("torch", ["style"])
    config = (repository / contract.network_model_name("sd", "unet") / "config.pbtxt").read_text()
    assert (
        'backend: "python"' in config
        and "KIND_CPU" in config
        and '\\"loras\\": [\\n    \\"style\\"' in config
    )
    assert not (contract.network_dir(repository, "sd", "unet") / contract.ONNX_FILENAME).exists()


def test_fp32_equals_the_onnxruntime_backend_and_diffusers(
    served: DenoisingPipeline, repository: Path, reference: Any
) -> None:
    req = request(num_images=2, negative_prompt="blurry")
    ours = served(req)
    onnx = local_pipeline(repository, "sd-onnx")(dataclasses.replace(req, model="sd-onnx"))
    assert np.abs(ours.astype(int) - onnx.astype(int)).max() <= 1
    reference.disable_lora()
    expected = diffusers_images(reference, dataclasses.replace(req, negative_prompt=""))
    plain = served(dataclasses.replace(req, negative_prompt=""))
    assert np.abs(plain / 255.0 - expected).max() < 2 / 255


def test_loras_equal_diffusers_set_adapters_and_requests_without_never_see_them(
    served: DenoisingPipeline, reference: Any
) -> None:
    plain_before = served(request())
    adapted = served(request(loras=(("style", SCALE),)))
    plain_after = served(request())
    reference.enable_lora()
    reference.set_adapters(["style"], [SCALE])
    expected = diffusers_images(reference, request())
    assert np.abs(adapted / 255.0 - expected).max() < 2 / 255
    # The adapter changes the picture, and leaves nothing behind for the requests without it.
    assert np.abs(adapted.astype(int) - plain_before.astype(int)).mean() > 5
    assert np.array_equal(plain_before, plain_after)
    # Other adapter sets never share a network call.
    assert batch_key(request()) != batch_key(request(loras=(("style", SCALE),)))
    assert batch_key(request(loras=(("style", 0.5),))) != batch_key(request(loras=(("style", SCALE),)))


@pytest.mark.parametrize(
    ("loras", "message"),
    [
        ((("nope", 1.0),), "unknown LoRA 'nope' for model 'sd'; it has: style"),
        ((("style", 4.5),), "between -4 and 4, got 4.5"),
        ((("style", 1.0), ("style", 0.5)), "names an adapter twice"),
    ],
)
def test_bad_loras_are_refused_naming_the_field(
    served: DenoisingPipeline, loras: tuple, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message) as caught:
        served.prepare(request(loras=loras))
    assert caught.value.param == "loras"


def test_an_onnx_model_says_which_backend_serves_adapters(repository: Path) -> None:
    pipeline = local_pipeline(repository, "sd-onnx")
    with pytest.raises(InvalidRequest, match="applied per request by the torch backend") as caught:
        pipeline.prepare(request(model="sd-onnx", loras=(("style", 1.0),)))
    assert caught.value.param == "loras"


def test_a_lora_for_an_onnx_model_is_refused(
    repository: Path, lora: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--lora", str(lora), "--base", "sd-onnx", "--output", str(repository)]) == 2
    assert "export it with --backend torch" in capsys.readouterr().err
    assert not contract.lora_dir(repository, "sd-onnx", "style-lora").exists()


def test_bf16_stays_close_to_fp32(served: DenoisingPipeline, repository: Path) -> None:
    bf16 = local_pipeline(repository, "sd", TorchNetworks(repository, "sd", dtype=torch.bfloat16))
    fp32, half = served(request()), bf16(request())
    assert np.abs(fp32.astype(int) - half.astype(int)).mean() < 8


def test_a_lora_of_the_text_encoder_needs_the_peft_transformers_asks_for(
    folder: Path, repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """diffusers loads a text encoder's LoRA through transformers' peft integration, which needs
    MIN_PEFT_VERSION; with an older peft such a LoRA is refused at --lora, saying so, never at a request."""
    from transformers.integrations.peft import MIN_PEFT_VERSION

    from export.loras import text_encoder_loras_supported

    path = make_lora(folder, folder.parent / "te-lora", text_encoder=True)
    code = main(["--lora", str(path), "--base", "sd", "--output", str(repository)])
    if text_encoder_loras_supported():
        assert code == 0
    else:
        assert code == 2
        assert f"peft >= {MIN_PEFT_VERSION}" in capsys.readouterr().err
        assert not contract.lora_dir(repository, "sd", "te-lora").exists()


def test_a_fused_lora_is_a_model_of_its_own_on_onnxruntime(
    folder: Path, lora: Path, repository: Path, reference: Any
) -> None:
    """--fuse-lora bakes the adapter into the exported graphs: the onnxruntime model gives diffusers'
    adapted pixels at that scale."""
    argv = ["--model", str(folder), "--output", str(repository), "--name", "sd-fused"]
    assert main([*argv, "--fuse-lora", f"{lora}:{SCALE}"]) == 0
    fused = local_pipeline(repository, "sd-fused")(request(model="sd-fused"))
    reference.enable_lora()
    reference.set_adapters(["style"], [SCALE])
    assert np.abs(fused / 255.0 - diffusers_images(reference, request())).max() < 2 / 255
