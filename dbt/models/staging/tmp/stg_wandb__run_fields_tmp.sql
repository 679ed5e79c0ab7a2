{{ wandb.wandb_source('run_fields') }}
