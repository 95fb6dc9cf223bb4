"""Triton Python-backend models. Each generated `model.py` in the model repository imports one of these;
they import `triton_python_backend_utils`, which exists only inside Triton's Python backend stub."""
