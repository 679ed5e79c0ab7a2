-- Every step of the curve metrics.
{{ compare_to_expected(ref('wandb__metric_curves'), source('wandb_expected', 'metric_curves'), keys=['project_id', 'run_id', 'step', 'metric'], numbers=['value']) }}
