"""The only code that talks to Triton: the asyncio gRPC client and the pool over several servers."""
