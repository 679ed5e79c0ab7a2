"""A Fivetran connector for Weights & Biases: one entity's users, projects, runs, sweeps and artifact versions.

`connector.py` at the project root is the entry point Fivetran loads; the logic lives here, one module per concern:
- configuration: `settings` (typed settings from the configuration) and `form` (the setup form, its connection test);
- W&B: `client` (the API and its pages), `failures` (the failure policy), `errors` (the connector's exceptions),
  `pacing` (staying within the key's rate limit) and `queries` (the GraphQL documents);
- tables: `tables` (the registry: keys, column types, row building) and `convert` (wire values to warehouse ones);
- walks: `walker` (the contract), `registry` (the walks a sync runs), and one walk per table: `users`, `runs`,
  `sweeps`, `artifacts`;
- a sync: `sync` (the driver and its checkpoints), `prefetch` (fetching ahead in worker threads), `reconcile` (the
  sweep for deletes) and `state` (what a sync remembers).
"""
