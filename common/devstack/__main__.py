"""``python -m common.devstack``: run the whole platform on this machine (see :mod:`common.devstack.stack`)."""

import sys

from common.devstack.stack import main

sys.exit(main())
