{{ wandb.wandb_source('artifact_lineage') }}
