{{ wandb.wandb_source('users') }}
