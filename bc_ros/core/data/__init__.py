"""Datasets: alignment of streams, the episode store, training-time datasets, augmentation."""
