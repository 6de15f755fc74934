from __future__ import annotations

from django.contrib.auth.models import Group
from django.urls import path
from rest_framework import generics, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ("id", "name")


class GroupList(generics.ListAPIView):
    """The request every benchmark sends: a small DRF list view."""

    queryset = Group.objects.order_by("id")
    serializer_class = GroupSerializer


class SessionGroupList(GroupList):
    """The same list for a logged-in session: the session, CSRF and auth
    middleware do their work (a session row and the user are loaded)."""

    authentication_classes = (SessionAuthentication,)
    permission_classes = (IsAuthenticated,)


urlpatterns = [
    path("groups/", GroupList.as_view()),
    path("session/groups/", SessionGroupList.as_view()),
]
