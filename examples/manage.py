#!/usr/bin/env python
"""Django's command-line utility; ``manage.py test`` uses the test settings."""

import os
import sys

if __name__ == "__main__":
    # `manage.py test` needs the test settings (restflow-parity's runner and
    # middleware); every other command runs with the base settings.
    testing = sys.argv[1:2] == ["test"]
    os.environ.setdefault(
        "DJANGO_SETTINGS_MODULE",
        "shop.settings.test" if testing else "shop.settings.base",
    )
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
