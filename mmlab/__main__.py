"""`python -m mmlab ...` does the same as the `mmlab` command."""

from mmlab.cli import main

raise SystemExit(main())
