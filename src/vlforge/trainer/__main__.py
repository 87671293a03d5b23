"""`python -m vlforge.trainer --stage N --config FILE`: the entry point torchrun starts per rank."""

from vlforge.trainer.cli import main

raise SystemExit(main())
