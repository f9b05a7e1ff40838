"""The lab: real small training sweeps that produce scaling data (model, corpora, run store).

Torch-free (a plain ``pip install .``): :mod:`~scalinglab.lab.config` (``RunConfig``),
:mod:`~scalinglab.lab.spec`, :mod:`~scalinglab.lab.design` (designs, TOML specs, dry runs),
:mod:`~scalinglab.lab.runner` (importing it, planned and stored rows), :mod:`~scalinglab.lab.devices`
(which device each sweep worker trains on), corpora, records and importers.
Training needs torch, the ``lab`` extra (``pip install 'scalinglab[lab]'``): :mod:`~scalinglab.lab.train`,
:mod:`~scalinglab.lab.model` and :mod:`~scalinglab.lab.noise` import it, and ``run_sweep`` says so in one
line when it is missing (:mod:`~scalinglab.lab.requires`).
"""
