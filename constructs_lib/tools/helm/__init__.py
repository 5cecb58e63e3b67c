"""Migration from the seed Helm chart: its values files and `--set` flags -> an Environment."""
