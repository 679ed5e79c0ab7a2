{{ wandb.wandb_source('run_summary') }}
