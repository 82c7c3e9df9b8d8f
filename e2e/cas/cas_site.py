"""The cas suite's CAS server: django-cas-server in a throwaway Django site.

This module is the site's settings (DJANGO_SETTINGS_MODULE=cas_site; the
URLs are in cas_urls.py); its data lives in $CAS_E2E_DIR.
`python cas_site.py setup` creates the users and the service pattern.
"""

import os
import sys

BASE = os.environ["CAS_E2E_DIR"]
SECRET_KEY = "sesame-e2e-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "cas_server",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "cas_urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(BASE, "cas.sqlite3")}}
USE_TZ = True
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# No CDN: the machine has no way out, and the login page needs none of it.
CAS_COMPONENT_URLS = {name: "data:," for name in (
    "bootstrap3_css", "bootstrap3_js", "html5shiv", "respond", "bootstrap4_css", "bootstrap4_js", "jquery")}
CAS_NEW_VERSION_HTML_WARNING = False

def setup():
    import django
    django.setup()
    from django.contrib.auth.models import User
    from cas_server.models import ReplaceAttributName, ServicePattern

    for login, password in (("alice", "alice-cas-pw"), ("carol", "carol-cas-pw")):
        User.objects.create_user(login, email=f"{login}@example.org", password=password)
    pattern = ServicePattern.objects.create(
        pos=100, name="loopback", pattern=r"^http://127\.0\.0\.1(:\d+)?/.*", single_log_out=True)
    ReplaceAttributName.objects.create(name="email", service_pattern=pattern)


if __name__ == "__main__" and sys.argv[1:] == ["setup"]:
    setup()
