"""Regenerates openai_images.yaml: the schemas of OpenAI's image and model operations, copied from
openai/openai-openapi's openapi.yaml with every schema they reference, unchanged.

    python -m tests.openai_spec.vendor path/to/openapi.yaml COMMIT
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

# What the tests validate against; everything these reference comes along.
ROOTS = (
    "ImagesResponse",
    "EditImageBodyJsonParam",
    "ImageGenCompletedEvent",
    "ImageGenPartialImageEvent",
    "ImageEditCompletedEvent",
    "ImageEditPartialImageEvent",
    "Model",
    "ListModelsResponse",
    "ErrorResponse",
)
VENDORED = Path(__file__).with_name("openai_images.yaml")
SOURCE = "https://github.com/openai/openai-openapi"
REF_PREFIX = "#/components/schemas/"


def references(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].removeprefix(REF_PREFIX)} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(references(value) for value in node))
    return set()


def closure(schemas: dict[str, Any], roots: tuple[str, ...]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name not in kept:
            kept[name] = schemas[name]
            pending.extend(references(schemas[name]))
    return dict(sorted(kept.items()))


def main(spec_path: str, commit: str) -> None:
    spec = yaml.safe_load(Path(spec_path).read_text())
    header = (
        f"# Vendored from {SOURCE}, openapi.yaml at commit\n# {commit}.\n"
        "# MIT licence, Copyright (c) OpenAI: see LICENSE beside this file. The image and model operations'\n"
        "# schemas and what they reference, unchanged; regenerate with\n"
        "# `python -m tests.openai_spec.vendor path/to/openapi.yaml COMMIT`.\n"
    )
    body = {"components": {"schemas": closure(spec["components"]["schemas"], ROOTS)}}
    VENDORED.write_text(header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=110))


if __name__ == "__main__":
    main(*sys.argv[1:])
