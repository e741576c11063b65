"""WSGI entry point (gunicorn). Production settings unless told otherwise."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "license_service.settings.production")

application = get_wsgi_application()
