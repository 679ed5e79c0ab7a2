-- Each model collection's best version and its root datasets.
{{ compare_to_expected(ref('wandb__best_model_datasets'), source('wandb_expected', 'best_model_datasets'), keys=['project_id', 'collection'], numbers=['best_value'], values=['best_artifact_id'], jsons=['root_dataset_ids']) }}
