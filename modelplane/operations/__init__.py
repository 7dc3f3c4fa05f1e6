"""Fleet operations over what runs: live status read from the clusters, cordon and drain."""
