{#- The columns the connector declares for `run_system_metrics` (wandb_connector/tables.py; a test keeps the two equal),
    with an alias where the name is a reserved word somewhere. -#}
{% macro get_run_system_metrics_columns() %}

{% set columns = [
    {"name": "project_id", "datatype": dbt.type_string()},
    {"name": "run_id", "datatype": dbt.type_string()},
    {"name": "sample", "datatype": dbt.type_bigint(), "alias": "sample_index"},
    {"name": "timestamp", "datatype": dbt.type_timestamp(), "alias": "sampled_at"},
    {"name": "runtime_seconds", "datatype": wandb.type_double()},
    {"name": "interval_seconds", "datatype": wandb.type_double()},
    {"name": "gpu_count", "datatype": dbt.type_bigint()},
    {"name": "gpu_utilization_percent", "datatype": wandb.type_double()},
    {"name": "gpu_memory_allocated_percent", "datatype": wandb.type_double()},
    {"name": "gpu_memory_allocated_bytes", "datatype": dbt.type_bigint()},
    {"name": "gpu_power_watts", "datatype": wandb.type_double()},
    {"name": "gpu_temperature_c", "datatype": wandb.type_double()},
    {"name": "cpu_percent", "datatype": wandb.type_double()},
    {"name": "memory_percent", "datatype": wandb.type_double()},
    {"name": "process_memory_mb", "datatype": wandb.type_double()},
    {"name": "disk_percent", "datatype": wandb.type_double()},
    {"name": "network_sent_bytes", "datatype": wandb.type_double()},
    {"name": "network_recv_bytes", "datatype": wandb.type_double()},
    {"name": "metrics", "datatype": wandb.type_json()},
    {"name": "synced_at", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_synced", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_deleted", "datatype": dbt.type_boolean()}
] %}

{{ return(columns) }}

{% endmacro %}
