-- Every live run, its span's GPU hours and its failure flag, as the dataset says.
{{ compare_to_expected(ref('wandb__runs'), source('wandb_expected', 'runs'), keys=['project_id', 'run_id'], numbers=['runtime_hours', 'gpu_hours'], values=['name', 'state', 'user', 'job_type', 'run_group', 'sweep_id', 'created_at', 'ended_at', 'gpu_count', 'gpu_type', 'is_failure']) }}
