{{ wandb.wandb_source('run_history') }}
