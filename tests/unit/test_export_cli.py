"""`python -m export`: re-runs are no-ops, local diffusers folders export, bad input fails clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import CLIPTokenizer

from export.cli import main
from export.presets import build_preset
from export.repository import manifest_path
from t2i import contract
from t2i.contract import ModelMetadata
from t2i.onnx_networks import only_model


def test_verification_figures_are_recorded(tiny_repository: Path) -> None:
    manifest = json.loads(manifest_path(tiny_repository, "tiny").read_text())
    networks = {v["network"]: v for v in manifest["verification"]}
    assert set(networks) == {spec.name for spec in contract.FAMILY_NETWORKS["sd"]}
    for figures in networks.values():
        assert 0 <= figures["max_abs_diff"] <= figures["tolerance"]


def test_rerun_is_a_no_op_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repository = tmp_path / "repo"
    assert main(["--preset", "tiny", "--output", str(repository)]) == 0
    onnx_file = contract.network_dir(repository, "tiny", "unet") / "model.onnx"
    written = onnx_file.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["--preset", "tiny", "--output", str(repository)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert onnx_file.stat().st_mtime_ns == written
    assert main(["--preset", "tiny", "--output", str(repository), "--force"]) == 0
    assert onnx_file.stat().st_mtime_ns != written


def test_local_diffusers_folder(tmp_path: Path) -> None:
    components = build_preset("tiny", seed=3)
    folder = tmp_path / "my-checkpoint"
    for part in ("text_encoder", "unet", "vae", "tokenizer"):
        getattr(components, part).save_pretrained(folder / part)
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(components.scheduler_config))
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    repository = tmp_path / "repo"
    assert main(["--model", str(folder), "--output", str(repository)]) == 0
    assets = contract.model_assets_dir(repository, "my-checkpoint")
    metadata = ModelMetadata.load(assets / contract.METADATA_FILENAME)
    assert metadata.name == "my-checkpoint"
    assert metadata.random_weights is False
    tokenizer = CLIPTokenizer.from_pretrained(assets / "tokenizer")
    assert len(tokenizer) == 49408


def test_not_a_checkpoint_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(tmp_path), "--output", str(tmp_path / "repo")]) == 1
    assert "no model_index.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    "pipeline_class", ["KandinskyPipeline", "PixArtAlphaPipeline", "FluxKontextPipeline"]
)
def test_unsupported_family_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pipeline_class: str
) -> None:
    folder = tmp_path / "other-model"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": pipeline_class}))
    assert main(["--model", str(folder), "--output", str(tmp_path / "repo")]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert pipeline_class in lines[0] and "sd (" in lines[0] and "sdxl (" in lines[0]
    assert "flux (" in lines[0] and "sd3 (" in lines[0]
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize(
    ("pipeline_class", "family"), [("FluxPipeline", "flux"), ("StableDiffusion3Pipeline", "sd3")]
)
def test_an_incomplete_flow_folder_names_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pipeline_class: str, family: str
) -> None:
    folder = tmp_path / "half-model"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": pipeline_class}))
    (folder / "vae").mkdir()
    assert main(["--model", str(folder), "--output", str(tmp_path / "repo")]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"is not a complete {family} folder: missing text_encoder, text_encoder_2," in line
    assert "transformer" in line and "vae," not in line


def test_sdxl_folder_without_its_first_text_encoder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The SDXL refiner has only the second encoder: not a text-to-image checkpoint of this family."""
    folder = tmp_path / "refiner"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLImg2ImgPipeline"}))
    assert main(["--model", str(folder), "--output", str(tmp_path / "repo")]) == 1
    assert "missing text_encoder, text_encoder_2, tokenizer, tokenizer_2" in capsys.readouterr().err


def test_sdxl_folder_exports_every_network(tiny_sdxl_repository: Path) -> None:
    manifest = json.loads(manifest_path(tiny_sdxl_repository, only_model(tiny_sdxl_repository)).read_text())
    assert manifest["family"] == "sdxl"
    verified = {v["network"] for v in manifest["verification"] if v["max_abs_diff"] <= v["tolerance"]}
    assert verified == {spec.name for spec in contract.FAMILY_NETWORKS["sdxl"]}


def test_tensorrt_without_the_package_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("tensorrt is installed here: the GPU tests cover engine builds")
    except ImportError:
        pass
    assert main(["--preset", "tiny", "--output", str(tmp_path), "--backend", "tensorrt"]) == 1
    assert "needs the `tensorrt` package" in capsys.readouterr().err


def test_exports_add_models_and_remove_takes_one_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each export adds its model beside the others; --force replaces that one only; --remove takes one
    out, and the shared pipeline goes with the last."""
    repository = tmp_path / "repo"
    assert main(["--preset", "tiny", "--output", str(repository)]) == 0
    assert main(["--preset", "tiny", "--name", "second", "--seed", "1", "--output", str(repository)]) == 0
    assert contract.served_models(repository) == ["second", "tiny"]
    tiny_unet = contract.network_dir(repository, "tiny", "unet") / "model.onnx"
    written = tiny_unet.stat().st_mtime_ns
    assert main(["--preset", "tiny", "--name", "second", "--seed", "2", "--output", str(repository)]) == 0
    assert tiny_unet.stat().st_mtime_ns == written  # another model's export leaves this one alone
    assert "also served: tiny" in capsys.readouterr().out
    assert main(["--remove", "second", "--output", str(repository)]) == 0
    assert contract.served_models(repository) == ["tiny"]
    assert not list(repository.glob("second__*"))
    assert main(["--remove", "second", "--output", str(repository)]) == 1
    assert "it holds: tiny" in capsys.readouterr().err
    assert main(["--remove", "tiny", "--output", str(repository)]) == 0
    assert not (repository / contract.PIPELINE.name).exists()


def test_a_served_name_outside_the_rule_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--preset", "tiny", "--name", "a__b", "--output", str(tmp_path)]) == 2
    assert "served model name 'a__b'" in capsys.readouterr().err


def test_a_repository_from_before_the_catalogue_is_refused_then_replaced(tmp_path: Path) -> None:
    from t2i.triton_server import TritonServer, TritonStartError

    old_pipeline = contract.version_dir(tmp_path, contract.PIPELINE.name)
    old_pipeline.mkdir(parents=True)
    (tmp_path / contract.PIPELINE.name / "config.pbtxt").write_text('name: "pipeline"')
    (old_pipeline / contract.METADATA_FILENAME).write_text(
        ModelMetadata("old", 64, 64, 16, 4, 8, 0.18, 32, 77, 20, 40, 7.5).to_json()
    )
    (tmp_path / "unet" / "1").mkdir(parents=True)
    with pytest.raises(TritonStartError, match="before the model catalogue.*--force"):
        TritonServer(tmp_path).start()
    assert main(["--preset", "tiny", "--output", str(tmp_path)]) == 0
    assert not (tmp_path / "unet").exists() and not contract.is_pre_catalogue(tmp_path)
    assert contract.served_models(tmp_path) == ["tiny"]
