"""FastAPI frontend: public image-generation APIs translated onto the Triton pipeline over gRPC."""
