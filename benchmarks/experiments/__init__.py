"""What computes the tables: per table group, its data, trained networks and memoised scores."""
