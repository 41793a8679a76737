"""Local Kafka, RabbitMQ and PostgreSQL on 127.0.0.1 for development, tests and CI."""
