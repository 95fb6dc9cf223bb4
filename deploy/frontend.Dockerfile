# The FastAPI frontend: no torch, no GPU; talks to Triton over gRPC (T2I_TRITON_URL).
FROM python:3.11-slim

WORKDIR /app
RUN pip install --no-cache-dir "numpy<2" "fastapi>=0.110" "uvicorn[standard]>=0.29" "pydantic-settings>=2.2" \
    "tritonclient[grpc]>=2.45" pillow "prometheus-client>=0.20" "httpx>=0.27"
COPY t2i /app/t2i
COPY frontend /app/frontend

ENV T2I_HOST=0.0.0.0 T2I_DATA_DIR=/data PYTHONUNBUFFERED=1
EXPOSE 8000
# Not on loopback, so it refuses to start until an API key exists (python -m frontend.keys create).
CMD ["python", "-m", "frontend"]
