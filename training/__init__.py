"""Training: losses, augmentation, the balanced multi-dataset step, the trainer."""
