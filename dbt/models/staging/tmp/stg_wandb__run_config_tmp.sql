{{ wandb.wandb_source('run_config') }}
