"""Side-by-side benchmarks of rnnlab against torch.nn (``rnnlab bench``)."""
