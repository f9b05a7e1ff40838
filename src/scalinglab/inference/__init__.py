"""Inference laws (``sl.inference``): serving memory and speed, and inference-quality scaling.

* :mod:`~scalinglab.inference.memory`: weights and KV-cache bytes, fit checks on N devices;
* :mod:`~scalinglab.inference.speed`: roofline prefill/decode latency and throughput vs batch (the decode
  step itself in :mod:`~scalinglab.inference.decode`, re-exported by speed);
* :mod:`~scalinglab.inference.quality`: pass@k, coverage vs samples, best temperature;
* :mod:`~scalinglab.inference.testtime`: accuracy vs test-time compute (log-linear vs sigmoid);
* :mod:`~scalinglab.inference.metrics`: exact match vs per-token metrics (the "emergence" mirage).
"""

from scalinglab.inference import memory, metrics, quality, speed, testtime

__all__ = ["memory", "metrics", "quality", "speed", "testtime"]
