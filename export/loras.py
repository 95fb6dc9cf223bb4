"""`python -m export --lora`: add a LoRA adapter to a served model of the torch backend. The adapter is
checked with diffusers' own loader, copied into the model's assets, and named in its metadata (the assets'
file and every network config's), so `GET /v1/models` lists it and requests may name it in `loras`."""

from __future__ import annotations

import dataclasses
import shutil
from importlib.metadata import version
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from export.triton_config import parse_config
from t2i import contract
from t2i.contract import ModelMetadata
from t2i.torch_networks import pipeline_class


class LoraError(ValueError):
    pass


def _peft_needed() -> str:
    from transformers.integrations.peft import MIN_PEFT_VERSION

    return (
        "diffusers loads a text encoder's adapter through transformers' peft integration, which needs "
        f"peft >= {MIN_PEFT_VERSION} (installed: {version('peft')}); LoRAs of the UNet alone work as they are"
    )


def lora_file(source: Path) -> Path:
    """The adapter's .safetensors: the file itself, or the one a folder holds."""
    if source.is_file():
        return source
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such file or folder")
    preferred = source / contract.LORA_FILENAME
    files = [preferred] if preferred.is_file() else sorted(source.glob("*.safetensors"))
    if len(files) != 1:
        raise LoraError(f"{source} must hold one .safetensors adapter file, found {len(files)}")
    return files[0]


def add_lora(repository: Path, served: str, source: Path, name: str | None = None) -> str:
    """Add the adapter as `name` (default: its file or folder name); an adapter of that name is replaced."""
    assets = contract.model_assets_dir(repository, served)
    metadata_file = assets / contract.METADATA_FILENAME
    if not metadata_file.is_file():
        raise LoraError(
            f"{repository} does not serve {served!r} (it serves: {contract.served_models(repository)})"
        )
    metadata = ModelMetadata.load(metadata_file)
    if not metadata.adapters_per_request:
        raise LoraError(
            f"{served!r} runs on the {metadata.backend or 'python-onnxruntime'} backend, whose weights are "
            "fixed: export it with --backend torch to apply adapters per request "
            f"({', '.join(contract.LORA_FAMILIES)} models)"
        )
    path = lora_file(source)
    name = name or (source.stem if source.is_file() else source.name)
    contract.check_served_name(name)
    # diffusers' own reader: every format load_lora_weights takes (diffusers, kohya, ...) is converted.
    loader = pipeline_class(contract.torch_weights_dir(repository, served))
    try:
        state_dict, _ = loader.lora_state_dict(str(path))
    except Exception as exc:  # diffusers raises ValueError, KeyError... for files that are no LoRA
        raise LoraError(f"{path} is not a LoRA diffusers can load: {exc}") from None
    targets = {key.split(".", 1)[0] for key in state_dict}
    served_parts = {"unet", "text_encoder", "text_encoder_2"}
    if not targets & served_parts:
        raise LoraError(
            f"{path} adapts none of {sorted(served_parts)} (its keys start with {sorted(targets)})"
        )
    if targets & {"text_encoder", "text_encoder_2"} and not text_encoder_loras_supported():
        raise LoraError(f"{path} adapts the text encoder too: {_peft_needed()}")
    destination = contract.lora_dir(repository, served, name)
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, destination / contract.LORA_FILENAME)
    publish_loras(repository, served)
    return name


def check_targets(path: Path, state_dict: dict[str, Any]) -> None:
    """An adapter of the networks LoRAs adapt here, which this environment can load."""
    targets = {key.split(".", 1)[0] for key in state_dict}
    adapted = {"unet", "text_encoder", "text_encoder_2"}
    if not targets & adapted:
        raise LoraError(f"{path} adapts none of {sorted(adapted)} (its keys start with {sorted(targets)})")
    if targets & {"text_encoder", "text_encoder_2"} and not text_encoder_loras_supported():
        raise LoraError(f"{path} adapts the text encoder too: {_peft_needed()}")


def text_encoder_loras_supported() -> bool:
    """Whether transformers' peft integration (text encoders' adapters) accepts the installed peft."""
    from packaging.version import Version
    from transformers.integrations.peft import MIN_PEFT_VERSION

    return Version(version("peft")) >= Version(MIN_PEFT_VERSION)


def publish_loras(repository: Path, served: str) -> None:
    """Name the model's adapters in its metadata: the assets' file (the pipeline re-reads it) and each
    network config's (what the frontend reads from Triton)."""
    assets = contract.model_assets_dir(repository, served)
    metadata = ModelMetadata.load(assets / contract.METADATA_FILENAME)
    metadata = dataclasses.replace(metadata, loras=contract.served_loras(repository, served))
    text = metadata.to_json()
    (assets / contract.METADATA_FILENAME).write_text(text)
    for spec in metadata.networks:
        config_file = repository / contract.network_model_name(served, spec.name) / "config.pbtxt"
        config = parse_config(config_file.read_text())
        config.parameters[contract.METADATA_PARAMETER].string_value = text
        config_file.write_text(text_format.MessageToString(config))


def parse_fused(spec: str) -> tuple[Path, float]:
    """`PATH[:SCALE]` of --fuse-lora."""
    path, _, scale = spec.rpartition(":") if ":" in spec else (spec, "", "1")
    try:
        value = float(scale)
    except ValueError:
        raise LoraError(f"--fuse-lora {spec!r}: the scale after ':' must be a number") from None
    if not abs(value) <= contract.MAX_LORA_SCALE:
        raise LoraError(f"--fuse-lora {spec!r}: the scale must be between -4 and 4")
    return Path(path), value


def fuse_loras(components: Any, fused: list[tuple[Path, float]]) -> None:
    """Fuse adapters into the components' weights in place, as diffusers' load_lora_weights + fuse_lora
    do, for the backends whose graphs fix every weight: the export is a model of its own."""
    pipeline = components.diffusers_pipeline()
    for index, (source, scale) in enumerate(fused):
        path = lora_file(source)
        check_targets(path, pipeline.lora_state_dict(str(path))[0])
        name = f"fused_{index}"
        pipeline.load_lora_weights(str(path), adapter_name=name)
        pipeline.fuse_lora(lora_scale=scale, adapter_names=[name])
        pipeline.unload_lora_weights()
