"""Staff tools: which orders does a topic hold?"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.http import service_unavailable
from common.kafka.inspect import BrokerUnavailable, UnknownTopic, scan_order_ids
from common.topics import DLT_SUFFIX, TOPICS

from .serializers import TopicOrderIdsOut

INSPECTABLE = {t.name for t in TOPICS} | {f"{t.name}{DLT_SUFFIX}" for t in TOPICS}


class TopicOrderIdsView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="topics_order_ids",
        summary="Order ids seen on a topic (staff)",
        description="Reads the topic from the beginning without committing offsets. "
        f"Topics: {', '.join(sorted(INSPECTABLE))}.",
        responses={200: TopicOrderIdsOut},
    )
    def get(self, request: Request, topic: str) -> Response:
        if topic not in INSPECTABLE:
            raise NotFound(f"unknown topic {topic!r}; choose one of {', '.join(sorted(INSPECTABLE))}")
        config = settings.PALMETTO_CONFIG
        if not config.kafka_bootstrap_servers:
            return service_unavailable("Kafka is not configured for this service", "broker_unavailable")
        try:
            scan = scan_order_ids(config.kafka_bootstrap_servers, f"{config.topic_prefix}{topic}")
        except BrokerUnavailable as exc:
            return service_unavailable(f"Kafka did not answer: {exc}", "broker_unavailable")
        except UnknownTopic:
            raise NotFound(f"topic {topic!r} does not exist on the broker") from None
        return Response(TopicOrderIdsOut(scan).data)
