"""Ingestion: weather sources -> Kafka -> the exactly-once lake sink."""
