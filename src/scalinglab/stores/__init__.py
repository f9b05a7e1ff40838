"""Data sources beneath :mod:`scalinglab.io`: the SQLite run store (no torch needed).

- :mod:`~scalinglab.stores.file`: the store as a file (checks, creation, read-only opening, schema
  migration, SQLite failures as one-line :class:`~scalinglab.stores.file.StoreError`);
- :mod:`~scalinglab.stores.reader`: the reading half (:class:`~scalinglab.stores.reader.StoreReader`);
- :mod:`~scalinglab.stores.run_store`: :class:`~scalinglab.stores.run_store.RunStore`, the reader
  plus every write (schema, crash safety, attempts);
- :mod:`~scalinglab.stores.table`: a store as a table of runs for :func:`scalinglab.io.load_runs`.

Layering: these modules import only :mod:`scalinglab.errors`, :mod:`scalinglab.atomic`,
:mod:`scalinglab.counting`, :mod:`scalinglab.tables` and each other; the torch-dependent lab
(:mod:`scalinglab.lab`) writes stores through them, and ``io`` reads them without importing the lab.
"""
