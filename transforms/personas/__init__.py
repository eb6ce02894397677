"""High-value personas (four groups found among APASS members): features, segmentation, mapping rules, profiles."""
