from __future__ import annotations

from pathlib import Path

import pytest

from export.components import build_preset, load_checkpoint
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
