"""Relay of Pulse AMQP deliveries onto Kafka topics, acked only after Kafka stores them."""
