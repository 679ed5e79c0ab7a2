{{ wandb.wandb_source('artifacts') }}
