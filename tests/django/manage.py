#!/usr/bin/env python
"""Django's command-line utility for the project that tests/django/run.sh migrates to Tessera."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
