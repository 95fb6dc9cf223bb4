"""OpenAI's own schemas for the image and model operations (openai_images.yaml, vendored by vendor.py
from openai/openai-openapi, MIT licence in LICENSE), for checking this server's real answers."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

VENDORED = Path(__file__).with_name("openai_images.yaml")
# OpenAI's ImagesResponse and its events enumerate only the GPT image models' sizes; this server makes
# others too (README: "Sizes"), so tests that check a whole response against the spec ask for one of these.
SPEC_SIZES = ("1024x1024", "1024x1536", "1536x1024")


@functools.cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(VENDORED.read_text())
    return document


def violations(schema: str, instance: Any) -> list[str]:
    """Every way `instance` breaks OpenAI's schema `schema` (e.g. "ImagesResponse"); empty if none."""
    # The spec is OpenAPI 3.1, whose schemas are JSON Schema 2020-12; refs resolve inside the document.
    root = _document() | {"$ref": f"#/components/schemas/{schema}"}
    validator = jsonschema.Draft202012Validator(root)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def assert_conforms(schema: str, instance: Any) -> None:
    problems = violations(schema, instance)
    assert not problems, f"not OpenAI's {schema}: " + "; ".join(problems)
