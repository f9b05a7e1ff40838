"""Inference laws: memory, speed and throughput, and inference-quality scaling."""
