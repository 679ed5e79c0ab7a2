-- Every numeric config value beside the target metric.
{{ compare_to_expected(ref('wandb__hyperparameter_effects'), source('wandb_expected', 'hyperparameter_effects'), keys=['project_id', 'run_id', 'config_key'], numbers=['config_value', 'target_value'], values=['target_metric']) }}
