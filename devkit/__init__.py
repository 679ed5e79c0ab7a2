"""What the tests, the demo, the scripts and the benchmarks share, and the connector never ships: the W&B double
(`wandb_double`), the ground truth computed from its dataset (`expected`), the real `fivetran` CLI run offline
(`fivetran_cli`), and the local Iceberg lakehouse with its second reader (`lakehouse`, `iceberg_reader`)."""
