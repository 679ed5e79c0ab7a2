-- Failure rate per project and job type.
{{ compare_to_expected(ref('wandb__failure_rate'), source('wandb_expected', 'failure_rate'), keys=['project_id', 'job_type'], numbers=['failure_rate'], values=['runs_ended', 'runs_failed']) }}
