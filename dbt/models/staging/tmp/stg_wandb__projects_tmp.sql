{{ wandb.wandb_source('projects') }}
