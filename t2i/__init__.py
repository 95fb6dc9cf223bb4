"""Shared core of the text-to-image service: the tensor contract, the request, and the denoising loop."""
