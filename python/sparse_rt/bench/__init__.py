"""Measurement: timing method, FLOP counts, model benchmarks and sweeps (``sparse-rt bench``,
``sparse-rt compare``). numpy-only at import; torch is imported by the functions that need it."""
