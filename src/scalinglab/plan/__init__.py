"""Planning: FLOP counting, compute-optimal allocation, batch size, hardware, time and cost."""
