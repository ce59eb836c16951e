"""One cog per feature: `/encounter`, `/character`, and play in encounter threads."""
