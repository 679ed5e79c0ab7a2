-- Each sweep's runs, ranked, with the searched parameters' values.
{{ compare_to_expected(ref('wandb__sweep_leaderboard'), source('wandb_expected', 'sweep_leaderboard'), keys=['project_id', 'sweep_id', 'run_id'], numbers=['metric_value'], values=['metric_name', 'metric_goal', 'rank'], jsons=['hyperparameters']) }}
