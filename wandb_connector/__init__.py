"""A Fivetran connector for Weights & Biases: one entity's users, projects, runs, sweeps and artifact versions.

`connector.py` at the project root is the entry point Fivetran loads; the logic lives here, in layers (a module
imports only from the layers above it in this list):
- vocabulary: `errors` (the connector's exceptions), `convert` (wire values to warehouse ones, time and number
  helpers), `shapes` (reading a response, or failing naming what was read), `settings` (options as data: `Option`,
  `Settings`), `run_records` (the packed per-run record), `state` (what a sync remembers, and its upgrades);
- W&B: `failures` (the failure policy), `pacing` (the key's rate limit), `optional` (fields an older server
  lacks), `client` (the transport and its retries), `probe` (is `base_url` an HTTP server at all), `paging` (the
  one page reader);
- the walk contract: `walker` (`Where`, `Table`, `Cost`, `Guess`, `Walker`), with the machinery two or more tables
  share: `step_ledger` (history's steps), `value_buckets` (the walk run_config and run_summary share);
- tables: `tables/`, one module per table (its declaration, documents, walk, switch, cost note and estimate), and
  `registry` (the one list of them, and what is derived from it: `schema()`, the options, the form's fields);
- a sync: `prefetch` (fetching ahead in worker threads), `reconcile` (the sweep for deletes), `sync` (the driver and
  its checkpoints), `form` (the setup form and its connection test), `survey` and `estimate` (`make estimate`).
"""
