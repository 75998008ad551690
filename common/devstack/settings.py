"""Settings for development tools that read all three services' declarations (the benchmark's checker).

The Client App's settings plus the kitchen's and courier's apps, so every service's models and
declaration import; the tools reach the databases themselves, never through this project.
"""

from client_app.settings import *  # noqa: F403
from client_app.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "palmetto_app.kitchen", "courier_app.delivery"]
