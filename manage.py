#!/usr/bin/env python
"""One manage.py for the three services; choose one with --settings or DJANGO_SETTINGS_MODULE.

    python manage.py runconsumers --settings=palmetto_app.settings
"""

import os
import sys

from common.deployment import SERVICES


def main() -> None:
    chosen = os.environ.get("DJANGO_SETTINGS_MODULE") or any(
        arg == "--settings" or arg.startswith("--settings=") for arg in sys.argv[1:]
    )
    if not chosen:
        sys.stderr.write(
            "manage.py serves three services; choose one:\n"
            + "".join(f"  python manage.py <command> --settings={s.settings_module}\n" for s in SERVICES)
            + "or set DJANGO_SETTINGS_MODULE to one of them.\n"
        )
        sys.exit(2)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
