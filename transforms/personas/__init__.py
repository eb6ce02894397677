"""High-value personas (SPEC §6): behavioural features, segmentation, mapping rules and profiles."""
