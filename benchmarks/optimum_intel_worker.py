"""optimum-intel's `OVStableDiffusionPipeline` on a diffusers folder, driven over stdin/stdout by
`benchmarks.systems.OptimumIntel`. It runs in its own virtual environment (`make optimum-intel-venv`):
optimum-intel pins an older diffusers and transformers than this project's.

    <venv>/bin/python benchmarks/optimum_intel_worker.py FOLDER SIZE

Exports FOLDER to OpenVINO IR (optimum's own conversion), reshapes to SIZE x SIZE, one image, and compiles,
as optimum's documentation advises for speed; then prints one JSON line describing itself. Each line read
after that is a request, {"prompt", "negative_prompt", "steps", "guidance_scale", "seed", "png"}; the image
is written to "png" and a line {"done": true} answers. Imports nothing of this project.
"""

from __future__ import annotations

import json
import sys

import openvino as ov
import torch
from optimum.intel import OVStableDiffusionPipeline


def main() -> int:
    folder, size = sys.argv[1], int(sys.argv[2])
    pipeline = OVStableDiffusionPipeline.from_pretrained(folder, export=True, compile=False)
    pipeline.reshape(batch_size=1, height=size, width=size, num_images_per_prompt=1)
    pipeline.compile()
    precision = pipeline.unet.request.get_property("INFERENCE_PRECISION_HINT")  # a CompiledModel
    print(json.dumps({"ready": True, "openvino": ov.__version__, "unet_precision": precision.to_string()}))
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        image = pipeline(
            request["prompt"],
            negative_prompt=request["negative_prompt"],
            height=size,
            width=size,
            num_inference_steps=request["steps"],
            guidance_scale=request["guidance_scale"],
            generator=torch.Generator().manual_seed(request["seed"]),
        ).images[0]
        image.save(request["png"])
        print(json.dumps({"done": True}))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
