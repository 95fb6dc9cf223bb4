"""Checkpoint -> ONNX (-> TensorRT in a later step) -> Triton model repository."""
