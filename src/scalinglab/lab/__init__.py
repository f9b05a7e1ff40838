"""The lab: real small training sweeps that produce scaling data (model, corpora, run store)."""
