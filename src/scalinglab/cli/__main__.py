"""``python -m scalinglab.cli``."""

from scalinglab.cli import main

main()
