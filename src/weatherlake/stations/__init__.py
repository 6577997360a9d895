"""Weather stations that push their own readings.

A station publishes a small JSON payload (``readings``: the format, its units, how it
becomes a schema-v2 record); ``weatherlake bridge mqtt`` (``mqtt``) subscribes to them on
an MQTT broker and produces each to Kafka, acknowledging it to MQTT only once Kafka has
it. From Kafka on, a station's readings travel the same path as a city's observations,
keyed and located by ``city_id`` ``station-<station_id>``.
"""
