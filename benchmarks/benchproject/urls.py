from __future__ import annotations

from django.contrib.auth.models import Group
from django.urls import path
from rest_framework import generics, serializers


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ("id", "name")


class GroupList(generics.ListAPIView):
    """The request every benchmark sends: a small DRF list view."""

    queryset = Group.objects.order_by("id")
    serializer_class = GroupSerializer


urlpatterns = [path("groups/", GroupList.as_view())]
