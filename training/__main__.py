"""`python -m training`: train the `shapes` model into a diffusers-format folder."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import tempfile
from pathlib import Path

from export.clip_vocab import build_clip_tokenizer
from training.train import BadOption, TrainingConfig, train


def parse_args(argv: list[str] | None) -> tuple[TrainingConfig, Path]:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument(
        "--output", type=Path, default=Path("models/shapes"), help="diffusers folder to write"
    )
    # One flag per TrainingConfig field, with its default: the command line records the whole recipe.
    for field in dataclasses.fields(TrainingConfig):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(field.default), default=field.default, dest=field.name)
    args = vars(parser.parse_args(argv))
    output = args.pop("output")
    return TrainingConfig(**args), output


def main(argv: list[str] | None = None) -> int:
    config, output = parse_args(argv)
    command = "python -m training " + shlex.join(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = build_clip_tokenizer(Path(folder))
        try:
            train(config, output, tokenizer, command)
        except BadOption as error:  # found before any work: say which, no traceback
            print(f"python -m training: error: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
