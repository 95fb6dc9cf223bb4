# The FastAPI frontend: no torch, no GPU; talks to Triton over gRPC (T2I_TRITON_URL).
FROM python:3.11-slim

WORKDIR /app
# The frontend's share of pyproject.toml's dependencies, and what the shared storage backends need:
# SQLAlchemy, Alembic and psycopg (PostgreSQL, T2I_DATABASE_URL), boto3 (S3 blob store), redis and
# limits (rate limits shared by the replicas); fastapi-offline ships the /docs and /redoc assets.
RUN pip install --no-cache-dir "numpy<2" "fastapi>=0.110" "python-multipart>=0.0.18" "uvicorn[standard]>=0.29" \
    "fastapi-offline>=1.7.7,<2" \
    "pydantic>=2.6" "pydantic-settings>=2.2" "tritonclient[grpc]>=2.45" "pillow>=10" "prometheus-client>=0.20" \
    "httpx>=0.27" "sqlalchemy>=2" alembic "psycopg[binary]>=3.1" boto3 "redis>=5" "limits>=3.13"
COPY t2i /app/t2i
COPY frontend /app/frontend

ENV T2I_HOST=0.0.0.0 T2I_DATA_DIR=/data PYTHONUNBUFFERED=1
EXPOSE 8000
# Not on loopback, so it refuses to start until an API key exists (python -m frontend.keys create).
CMD ["python", "-m", "frontend"]
