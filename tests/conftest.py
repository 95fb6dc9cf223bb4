from __future__ import annotations

from pathlib import Path

import pytest

from export.components import load_checkpoint
from export.presets import build_preset
from export.repository import ExportOptions, fingerprint, write_model_repository

SHAPES_MODEL = Path(__file__).resolve().parent.parent / "models" / "shapes"


@pytest.fixture(scope="session")
def tiny_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `tiny` preset exported once per test session, exactly as `python -m export` does."""
    repository = tmp_path_factory.mktemp("model_repository")
    options = ExportOptions()
    write_model_repository(
        build_preset("tiny"), repository, options, fingerprint({"preset": "tiny"}, options)
    )
    return repository


@pytest.fixture(scope="session")
def shapes_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed default model (models/shapes) exported as `make serve` exports it."""
    repository = tmp_path_factory.mktemp("shapes_repository")
    options = ExportOptions()
    write_model_repository(
        load_checkpoint(SHAPES_MODEL), repository, options, fingerprint({"model": "shapes"}, options)
    )
    return repository


@pytest.fixture(scope="session")
def tiny_sdxl_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A diffusers SDXL folder as a user brings one: diffusers' own StableDiffusionXLPipeline on the
    `tiny-sdxl` random weights, written with save_pretrained (model_index.json, two text encoders...)."""
    folder = tmp_path_factory.mktemp("checkpoints") / "tiny-sdxl-checkpoint"
    build_preset("tiny-sdxl", seed=1).diffusers_pipeline().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_sdxl_repository(tiny_sdxl_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """That folder exported as `python -m export --model <folder>` exports it."""
    repository = tmp_path_factory.mktemp("sdxl_repository")
    options = ExportOptions()
    write_model_repository(
        load_checkpoint(tiny_sdxl_folder), repository, options, fingerprint({"model": "sdxl"}, options)
    )
    return repository


def _export_folder(folder: Path, repository: Path, source: str) -> Path:
    options = ExportOptions()
    write_model_repository(
        load_checkpoint(folder), repository, options, fingerprint({"model": source}, options)
    )
    return repository


@pytest.fixture(scope="session")
def tiny_flux_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A schnell-like Flux folder (no guidance embedding, no dynamic shifting) as a user brings one:
    diffusers' FluxPipeline on tiny random weights, written with save_pretrained."""
    from export.flow_presets import tiny_flux_pipeline

    folder = tmp_path_factory.mktemp("checkpoints") / "tiny-flux-schnell"
    tiny_flux_pipeline(guidance_embeds=False, seed=1).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_flux_dev_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dev-like Flux folder: the guidance scale embedded, the schedule shifted by the image's size."""
    from export.flow_presets import tiny_flux_pipeline

    folder = tmp_path_factory.mktemp("checkpoints") / "tiny-flux-dev"
    tiny_flux_pipeline(guidance_embeds=True, seed=2).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_sd3_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SD3 folder with its two CLIPs and T5: diffusers' StableDiffusion3Pipeline on tiny random weights."""
    from export.flow_presets import tiny_sd3_pipeline

    folder = tmp_path_factory.mktemp("checkpoints") / "tiny-sd3"
    tiny_sd3_pipeline(with_t5=True, seed=3).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_flux_repository(tiny_flux_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export_folder(tiny_flux_folder, tmp_path_factory.mktemp("flux_repository"), "flux-schnell")


@pytest.fixture(scope="session")
def tiny_flux_dev_repository(tiny_flux_dev_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export_folder(tiny_flux_dev_folder, tmp_path_factory.mktemp("flux_dev_repository"), "flux-dev")


@pytest.fixture(scope="session")
def tiny_sd3_repository(tiny_sd3_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export_folder(tiny_sd3_folder, tmp_path_factory.mktemp("sd3_repository"), "sd3")
