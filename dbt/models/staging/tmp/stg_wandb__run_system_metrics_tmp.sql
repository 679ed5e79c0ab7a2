{{ wandb.wandb_source('run_system_metrics') }}
