{{ wandb.wandb_source('sweeps') }}
