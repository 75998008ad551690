"""The only package that imports confluent-kafka; services use what it exports."""
