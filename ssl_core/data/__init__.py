"""Video input: decoding, UCF101/HMDB51 split readers, datasets, the synthetic generator."""
