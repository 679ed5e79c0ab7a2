-- GPU hours per user, project and week.
{{ compare_to_expected(ref('wandb__gpu_hours_weekly'), source('wandb_expected', 'gpu_hours_weekly'), keys=['user', 'project_id', 'week_start'], numbers=['gpu_hours'], values=['runs']) }}
