"""A W&B GraphQL double for tests, the demo and benchmarks: `WandbDouble(build_world(...))`."""

from .dataset import World, build_world, named_world
from .server import DEFAULT_API_KEY, Fault, WandbDouble

__all__ = ["DEFAULT_API_KEY", "Fault", "WandbDouble", "World", "build_world", "named_world"]
