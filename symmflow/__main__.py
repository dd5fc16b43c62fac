"""``python -m symmflow``: the ``symmflow`` command (:mod:`symmflow.cli`), for an environment whose
scripts folder is not on the PATH."""

import sys

from symmflow.cli import main

sys.exit(main())
