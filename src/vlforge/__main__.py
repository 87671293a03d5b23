from vlforge.cli import main

raise SystemExit(main())
