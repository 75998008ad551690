"""WSGI entry point of the Courier App (`gunicorn courier_app.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courier_app.settings")
application = get_wsgi_application()
