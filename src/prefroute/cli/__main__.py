"""`python -m prefroute.cli`: the same entry point as the `prefroute` command."""

from prefroute.cli import main

main()
