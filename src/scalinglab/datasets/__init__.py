"""Public scaling data sets by name: ``sl.datasets.load("epoch_chinchilla")``.

The registry (:mod:`scalinglab.datasets.registry`) records, for each published data set, its citation,
source repository and commit, licence, and for each file its path in that repository, its SHA-256 and
the mapping of its columns onto scalinglab's canonical run columns (params, tokens, flops, loss, step,
budget, group, run; units in :mod:`scalinglab.io`). Files are read from ``$SCALINGLAB_DATA`` when set,
else from the user cache folder, and downloaded from their public source (checksum verified) when
missing. Nothing is bundled with scalinglab.

Typical use::

    import scalinglab as sl
    sl.datasets.list_datasets()                                     # every table, local or not
    runs = sl.datasets.load_runs("epoch_chinchilla", drop_highest_loss=5)   # 240 runs (Besiroglu 2024)
    df = sl.datasets.load("porian2024", table="published_fits")     # the raw table
    sl.datasets.path("porian2024/isoflop_points")                   # local file, checksum verified
"""

from __future__ import annotations

from scalinglab.datasets.loader import (
    ENV_VAR,
    cache_dir,
    data_dir,
    get,
    list_datasets,
    load,
    load_runs,
    names,
    path,
    sha256_of,
)
from scalinglab.datasets.registry import REGISTRY, Citation, Dataset, Table

__all__ = ["ENV_VAR", "REGISTRY", "Citation", "Dataset", "Table", "cache_dir", "data_dir", "get", "list_datasets",
           "load", "load_runs", "names", "path", "sha256_of"]
