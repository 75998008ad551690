"""Shared foundation of the three Palmetto services.

Holds what every service agrees on -- topics, the event contract, the order
lifecycle, configuration -- and the Kafka plumbing (one producer, one consumer
loop, the outbox relay) so that service code never touches confluent-kafka.
"""
