"""The scalinglab version, in a module of its own so that modules below the package's face (the run
store records it in every store it creates) can import it without importing :mod:`scalinglab`."""

__version__ = "0.1.0"
