"""WSGI entry point of the Palmetto App (`gunicorn palmetto_app.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "palmetto_app.settings")
application = get_wsgi_application()
