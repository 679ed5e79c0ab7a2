-- Seed 001's ten metrics per project, with as_of pinned.
{{ compare_to_expected(ref('wandb__project_metrics'), source('wandb_expected', 'project_metrics'), keys=['project_id'], numbers=['best_accuracy', 'latest_loss', 'avg_accuracy_7d', 'avg_duration_hours', 'gpu_utilization_avg', 'gpu_hours_7d'], values=['runs_active', 'runs_completed_7d', 'runs_failed_7d', 'runs_total']) }}
