"""URLs of the cas suite's CAS server: django-cas-server under /cas/."""

from django.urls import include, path

urlpatterns = [path("cas/", include(("cas_server.urls", "cas_server"), namespace="cas_server"))]
