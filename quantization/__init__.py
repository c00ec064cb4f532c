"""tinymoat.quantization: make MOAT models integer-friendly (QAT and post-training)."""
