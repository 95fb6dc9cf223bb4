# Triton for GPU serving: the official image (native TensorRT and onnxruntime backends) plus what the
# Python-backend `pipeline` model imports: this project's t2i package, diffusers schedulers, the CLIP
# tokenizer. The pipeline runs its scheduler math on small CPU tensors, so the CPU build of torch is enough.
FROM nvcr.io/nvidia/tritonserver:24.10-py3

RUN pip install --no-cache-dir "numpy<2" "diffusers>=0.30" "transformers>=4.45" safetensors pillow \
    && pip install --no-cache-dir torch --index-url https://download.pytorch.org/whl/cpu

COPY t2i /opt/t2i/t2i
# The generated model.py files put PYTHONPATH on sys.path (the backend stub does not read it itself).
ENV PYTHONPATH=/opt/t2i

# Mount an exported repository (python -m export --backend tensorrt ...) at /models.
CMD ["tritonserver", "--model-repository=/models", "--log-verbose=0"]
