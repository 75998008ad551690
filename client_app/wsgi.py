"""WSGI entry point of the Client App (`gunicorn client_app.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "client_app.settings")
application = get_wsgi_application()
