-- Every version's ancestors and the shortest chain's depth.
{{ compare_to_expected(ref('wandb__artifact_ancestry'), source('wandb_expected', 'artifact_ancestry'), keys=['artifact_id', 'ancestor_artifact_id'], values=['depth']) }}
