"""A Fivetran connector for Weights & Biases: projects, runs and artifacts into the warehouse.

`connector.py` at the project root is the entry point Fivetran loads; the logic lives here, one module per concern:
settings (configuration), client (the W&B API), queries (GraphQL documents), tables (registry and rows),
state (what a sync remembers), sync (the walk and its checkpoints).
"""
