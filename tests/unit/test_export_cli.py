"""`python -m export`: re-runs are no-ops, local diffusers folders export, bad input fails clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import CLIPTokenizer

from export.cli import main
from export.components import build_preset
from export.repository import MANIFEST_FILENAME
from t2i import contract
from t2i.contract import ModelMetadata


def test_verification_figures_are_recorded(tiny_repository: Path) -> None:
    manifest = json.loads((tiny_repository / "pipeline" / MANIFEST_FILENAME).read_text())
    networks = {v["network"]: v for v in manifest["verification"]}
    assert set(networks) == {spec.name for spec in contract.NETWORKS}
    for figures in networks.values():
        assert 0 <= figures["max_abs_diff"] <= figures["tolerance"]


def test_rerun_is_a_no_op_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repository = tmp_path / "repo"
    assert main(["--preset", "tiny", "--output", str(repository)]) == 0
    onnx_file = repository / "unet" / "1" / "model.onnx"
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
    metadata = ModelMetadata.load(repository / "pipeline" / "1" / contract.METADATA_FILENAME)
    assert metadata.name == "my-checkpoint"
    assert metadata.random_weights is False
    tokenizer = CLIPTokenizer.from_pretrained(repository / "pipeline" / "1" / "tokenizer")
    assert len(tokenizer) == 49408


def test_not_a_checkpoint_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(tmp_path), "--output", str(tmp_path / "repo")]) == 2
    assert "missing" in capsys.readouterr().err


def test_fp16_needs_tensorrt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--preset", "tiny", "--output", str(tmp_path), "--precision", "fp16"]) == 2
    assert "needs --backend tensorrt" in capsys.readouterr().err


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


def test_vae_stays_fp32_unless_asked() -> None:
    from export.repository import ExportOptions

    options = ExportOptions(backend="tensorrt", precision="fp16")
    assert options.engine_fp16("unet") and options.engine_fp16("text_encoder")
    assert not options.engine_fp16("vae_decoder") and not options.engine_fp16("vae_encoder")
    assert ExportOptions(backend="tensorrt", precision="fp16", fp16_vae=True).engine_fp16("vae_decoder")
    assert not ExportOptions(backend="tensorrt").engine_fp16("unet")
