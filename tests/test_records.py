"""Observation schemas v1 and v2: validation reasons, encoding, record building, derived metrics."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from weatherlake import records
from weatherlake.cities import resolve
from weatherlake.errors import InvalidRecord
from weatherlake.records import validation
from weatherlake.stations.readings import normalise

LONDON = resolve(["london-gb"])[0]
HOUR = datetime(2026, 11, 23, 14, tzinfo=UTC)
INGESTED = datetime(2026, 11, 23, 14, 0, 5, 123456, tzinfo=UTC)


def built(**values) -> dict:
    """make_record for London at HOUR from source "x", unless ``values`` say otherwise."""
    return records.make_record(**{"city": LONDON, "timestamp": HOUR, "source": "x", **values})


def good_record(**changes) -> dict:
    record = built(
        source="synthetic",
        temperature=12.3,
        humidity=80,
        pressure=1012,
        wind_speed=5.5,
        wind_direction=200,
        cloudiness=75,
        rainfall=0.3,
        weather_main="Rain",
        weather_description="light rain",
        ingested_at=INGESTED,
    )
    record.update(changes)
    return record


def without(field: str) -> dict:
    record = good_record()
    del record[field]
    return record


def test_a_built_record_has_every_schema_field_and_validates():
    record = good_record()
    assert list(record) == list(records.FIELDS)
    assert records.validate(record) is record
    assert record == {
        "schema_version": 1,
        "city_id": "london-gb",
        "city": "London",
        "country": "GB",
        "latitude": 51.5074,
        "longitude": -0.1278,
        "timestamp": "2026-11-23T14:00:00Z",
        "ingested_at": "2026-11-23T14:00:05.123456Z",
        "source": "synthetic",
        "temperature": 12.3,
        "feels_like": 12.3,
        "humidity": 80.0,
        "pressure": 1012.0,
        "wind_speed": 5.5,
        "wind_direction": 200.0,
        "cloudiness": 75.0,
        "rainfall": 0.3,
        "weather_main": "Rain",
        "weather_description": "light rain",
        "dew_point": 8.95,
        "heat_index": None,
        "wind_chill": None,
    }


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (good_record(humidity=140.0), "humidity 140.0 out of range 0..100"),
        (without("timestamp"), "missing field 'timestamp'"),
        (without("source"), "missing field 'source'"),
        (good_record(temperature="12.3"), "temperature must be a number, got string"),
        (good_record(temperature=True), "temperature must be a number, got boolean"),
        (good_record(temperature=None), "field 'temperature' must not be null"),
        (good_record(temperature=61.0), "temperature 61.0 out of range -90..60"),
        (good_record(temperature=math.nan), "temperature nan out of range -90..60"),
        (good_record(latitude=90.5), "latitude 90.5 out of range -90..90"),
        (good_record(longitude=-180.01), "longitude -180.01 out of range -180..180"),
        (good_record(pressure=849.9), "pressure 849.9 out of range 850..1100"),
        (good_record(wind_speed=-0.1), "wind_speed -0.1 out of range 0..120"),
        (good_record(wind_direction=361), "wind_direction 361 out of range 0..360"),
        (good_record(cloudiness=101), "cloudiness 101 out of range 0..100"),
        (good_record(rainfall=-1), "rainfall -1 out of range 0..500"),
        (good_record(rainfall=501.0), "rainfall 501.0 out of range 0..500"),
        (good_record(schema_version=3), "schema_version must be 1 or 2, got 3"),
        (good_record(schema_version="1"), "schema_version must be 1 or 2, got '1'"),
        (good_record(schema_version=True), "schema_version must be 1 or 2, got True"),
        (good_record(schema_version=2), "missing field 'station_id'"),
        (good_record(city_id="London GB"), "city_id must be a lowercase slug like 'london-gb', got 'London GB'"),
        (good_record(city_id="-london"), "city_id must be a lowercase slug like 'london-gb', got '-london'"),
        (good_record(country="gb"), "country must be an ISO 3166 alpha-2 code like 'GB', got 'gb'"),
        (good_record(city=""), "city must not be empty"),
        (good_record(source="  "), "source must not be empty"),
        (good_record(weather_main=""), "weather_main must not be empty"),
        (good_record(weather_main=3), "weather_main must be a string, got number"),
        (good_record(timestamp="2026-11-23T14:00:00"), "timestamp must be ISO-8601 UTC"),
        (good_record(timestamp="2026-11-23T14:00:00+00:00"), "timestamp must be ISO-8601 UTC"),
        (good_record(timestamp="2026-11-23 14:00:00Z"), "timestamp must be ISO-8601 UTC"),
        (good_record(timestamp="2026-02-30T14:00:00Z"), "timestamp must be ISO-8601 UTC"),
        (good_record(timestamp="2025-02-29T14:00:00Z"), "timestamp must be ISO-8601 UTC"),
        (good_record(timestamp="2026-11-23T24:00:00Z"), "timestamp must be ISO-8601 UTC"),
        (good_record(timestamp="2026-11-23T14:00:00.1234567Z"), "timestamp must be ISO-8601 UTC"),
        (good_record(timestamp="２０２６-11-23T14:00:00Z"), "timestamp must be ISO-8601 UTC"),
        (good_record(ingested_at="yesterday"), "ingested_at must be ISO-8601 UTC"),
        (good_record(ingested_at=17000000), "ingested_at must be a string, got number"),
        (good_record(extra=1), "unexpected field 'extra' (schema version 1)"),
        ([good_record()], "record must be a JSON object, got array"),
        ("text", "record must be a JSON object, got string"),
    ],
)
def test_validate_names_the_field_and_the_problem(record, reason):
    with pytest.raises(InvalidRecord) as caught:
        records.validate(record)
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize(
    "changes",
    [
        {"wind_direction": None, "cloudiness": None, "weather_main": None, "weather_description": None},
        {"dew_point": None, "heat_index": None, "wind_chill": None},
        {"temperature": 12, "humidity": 100, "pressure": 1100, "wind_speed": 0},
        {"timestamp": "2024-02-29T23:59:59.5Z", "ingested_at": "2026-11-23T14:00:05.000001Z"},
        {"latitude": -90.0, "longitude": 180.0},
    ],
)
def test_validate_accepts_nulls_in_optional_fields_ints_and_edges(changes):
    record = good_record(**changes)
    assert records.validate(record) is record


@pytest.mark.parametrize("field", ["wind_direction", "cloudiness", "weather_main", "weather_description", "dew_point"])
def test_optional_fields_may_be_absent(field):
    record = without(field)
    assert records.validate(record) is record


@pytest.mark.parametrize(("field", "low", "high"), [(field, *bounds) for field, bounds in records.RANGES.items()])
def test_every_range_is_inclusive_in_both_checks(field, low, high, explained):
    for value in (low, high):
        record = good_record(**{field: value})
        assert records.validate(record) is record
        assert not explained  # accepted by the fast check, as by the explaining one
    for value in (low - 0.01, high + 0.01):
        with pytest.raises(InvalidRecord, match=f"^{field} {value!r} out of range {low:g}..{high:g}$"):
            records.validate(good_record(**{field: value}))


def test_encode_is_compact_one_line_json_and_parse_round_trips():
    record = good_record(city="São Paulo")
    data = records.encode(record)
    assert isinstance(data, bytes)
    assert b"\n" not in data and b": " not in data and b", " not in data
    assert "São Paulo".encode() in data
    assert records.parse(data) == record


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not valid JSON: "),
        (b'{"city": "\xff\xfe"}', "not valid JSON: "),
        (b"", "not valid JSON: "),
        (b"[1, 2]", "not valid JSON: expected an object, got array"),
        (b"42", "not valid JSON: expected an object, got number"),
        (b'{"schema_version": 1}', "missing field 'city_id'"),
    ],
)
def test_parse_rejects_bytes_that_are_not_a_record(value, reason):
    with pytest.raises(InvalidRecord) as caught:
        records.parse(value)
    assert str(caught.value).startswith(reason)


def test_make_record_formats_times_as_utc_z():
    naive = built(
        timestamp=datetime(2026, 1, 2, 3, 4, 5), temperature=1, humidity=50, pressure=1000, wind_speed=1,
        ingested_at=datetime(2026, 1, 2, 3, 4, 6, 70),
    )  # fmt: skip
    assert naive["timestamp"] == "2026-01-02T03:04:05Z"
    assert naive["ingested_at"] == "2026-01-02T03:04:06.000070Z"
    late = built(
        timestamp=datetime(2026, 11, 24, 0, 30, tzinfo=timezone(timedelta(hours=2))),
        temperature=1, humidity=50, pressure=1000, wind_speed=1,
    )  # fmt: skip
    assert late["timestamp"] == "2026-11-23T22:30:00Z"
    now = built(temperature=1, humidity=50, pressure=1000, wind_speed=1)
    ingested = datetime.fromisoformat(now["ingested_at"])
    assert abs(ingested - datetime.now(UTC)) < timedelta(seconds=5)
    assert records.validate(now)


def test_make_record_keeps_times_given_as_schema_text():
    record = built(
        timestamp="2026-11-23T14:00:00Z", ingested_at="2026-11-23T14:00:05.5Z",
        temperature=1, humidity=50, pressure=1000, wind_speed=1,
    )  # fmt: skip
    assert (record["timestamp"], record["ingested_at"]) == ("2026-11-23T14:00:00Z", "2026-11-23T14:00:05.5Z")
    assert records.validate(record) is record


def test_make_record_takes_keywords_only():
    with pytest.raises(TypeError):
        records.make_record(LONDON, HOUR, "x", temperature=1, humidity=50, pressure=1000, wind_speed=1)


def test_make_record_rounds_and_derives_feels_like():
    hot = built(
        temperature=32.2222222, humidity=60.04, pressure=1009.96, wind_speed=3.14159,
        wind_direction=359.96, cloudiness=10.04, rainfall=0.123,
    )  # fmt: skip
    assert hot["temperature"] == 32.22
    assert hot["humidity"] == 60.0
    assert hot["pressure"] == 1010.0
    assert hot["wind_speed"] == 3.14
    assert hot["wind_direction"] == 360.0
    assert hot["cloudiness"] == 10.0
    assert hot["rainfall"] == 0.12
    assert hot["heat_index"] == pytest.approx(records.heat_index(32.2222222, 60.04), abs=0.01)
    assert hot["feels_like"] == hot["heat_index"]  # 90 °F and 60 %: the heat index applies
    assert hot["wind_chill"] is None

    cold = built(temperature=-5.0, humidity=70, pressure=1020, wind_speed=8.0)
    assert cold["heat_index"] is None
    assert cold["feels_like"] == cold["wind_chill"] == pytest.approx(records.wind_chill(-5.0, 8.0), abs=0.01)

    mild = built(temperature=15.0, humidity=70, pressure=1020, wind_speed=8.0)
    assert mild["feels_like"] == 15.0 and mild["heat_index"] is None and mild["wind_chill"] is None

    given = built(temperature=15.0, humidity=70, pressure=1020, wind_speed=8.0, feels_like=13.456)
    assert given["feels_like"] == 13.46
    assert built(temperature=15.0, humidity=70, pressure=1020, wind_speed=8.0, rainfall=None)["rainfall"] == 0.0


def test_make_record_never_judges_values_so_the_producer_can_dead_letter_them():
    wild = built(temperature=75.0, humidity=140.0, pressure=700, wind_speed=-3)
    assert wild["humidity"] == 140.0 and wild["temperature"] == 75.0
    with pytest.raises(InvalidRecord, match="temperature 75.0 out of range"):
        records.validate(wild)
    broken = built(temperature=math.nan, humidity=50, pressure=1000, wind_speed=math.inf)
    assert math.isnan(broken["temperature"]) and broken["wind_speed"] == math.inf
    with pytest.raises(InvalidRecord, match="temperature nan out of range"):
        records.validate(broken)
    # encoded, NaN becomes null: the sink then says so
    with pytest.raises(InvalidRecord, match="field 'temperature' must not be null"):
        records.parse(records.encode(broken))


# --- derived metrics against published values --------------------------------------------


def f_to_c(f: float) -> float:
    return (f - 32) / 1.8


def c_to_f(c: float) -> float:
    return c * 1.8 + 32


@pytest.mark.parametrize(
    ("t_c", "rh", "expected"),
    [
        (20.0, 50.0, 9.3),  # Magnus / Alduchov-Eskridge
        (30.0, 70.0, 23.9),
        (0.0, 100.0, 0.0),
        (25.0, 60.0, 16.7),
    ],
)
def test_dew_point_magnus(t_c, rh, expected):
    assert records.dew_point(t_c, rh) == pytest.approx(expected, abs=0.1)


def test_dew_point_is_undefined_without_humidity():
    assert records.dew_point(20.0, 0.0) is None


@pytest.mark.parametrize(
    ("t_f", "rh", "expected_f"),
    [
        # NWS heat index chart (rounded to whole °F; the regression is good to ±1.3 °F)
        (90, 60, 100),
        (80, 40, 80),
        (96, 50, 108),
        (104, 40, 119),
        (86, 90, 105),  # the high-humidity adjustment applies (RH > 85 %, 80..87 °F)
        (110, 40, 136),
        (84, 70, 90),
    ],
)
def test_heat_index_matches_the_nws_chart(t_f, rh, expected_f):
    assert c_to_f(records.heat_index(f_to_c(t_f), rh)) == pytest.approx(expected_f, abs=1.0)


def test_heat_index_adjustments_and_limits():
    assert records.heat_index(f_to_c(79.9), 90) is None  # below 80 °F (26.7 °C) it does not apply
    assert records.heat_index(26.6, 90) is None
    # Dry air: the NWS subtracts ((13-RH)/4)*sqrt((17-|T-95|)/17); at 95 °F, 5 % that is 2 °F.
    t = 95.0
    rothfusz = (
        -42.379 + 2.04901523 * t + 10.14333127 * 5 - 0.22475541 * t * 5 - 0.00683783 * t * t
        - 0.05481717 * 25 + 0.00122874 * t * t * 5 + 0.00085282 * t * 25 - 0.00000199 * t * t * 25
    )  # fmt: skip
    assert c_to_f(records.heat_index(f_to_c(t), 5)) == pytest.approx(rothfusz - 2.0, abs=0.01)
    # Humid: the NWS adds ((RH-85)/10)*((87-T)/5); at 80 °F, 100 % that is 2.1 °F over the chart's 87.
    assert c_to_f(records.heat_index(f_to_c(80), 100)) == pytest.approx(87.2 + 2.1, abs=0.1)
    # Mild and dry enough that Steadman's simple formula stays below 80 °F: it is used as is.
    assert c_to_f(records.heat_index(f_to_c(80), 10)) == pytest.approx(0.5 * (80 + 61 + 12 * 1.2 + 0.94), abs=0.01)


@pytest.mark.parametrize(
    ("t_f", "wind_mph", "expected_f"),
    [
        # NWS wind chill chart (2001 formula)
        (0, 15, -19),
        (30, 5, 25),
        (40, 10, 34),
        (-10, 30, -39),
        (20, 25, 3),
        (-20, 60, -62),
    ],
)
def test_wind_chill_matches_the_nws_chart(t_f, wind_mph, expected_f):
    assert c_to_f(records.wind_chill(f_to_c(t_f), wind_mph * 0.44704)) == pytest.approx(expected_f, abs=1.0)


def test_wind_chill_limits():
    assert records.wind_chill(10.1, 10.0) is None  # too warm
    assert records.wind_chill(0.0, 4.8 / 3.6) is None  # wind at or below 4.8 km/h
    assert records.wind_chill(10.0, 5.0) is not None


def test_encoded_records_decode_to_the_same_numbers():
    record = good_record()
    assert orjson.loads(records.encode(record))["dew_point"] == 8.95


def explain_accepts(record: object) -> bool:
    try:
        records.explain(record)
        return True
    except InvalidRecord:
        return False


POOL = [
    None, "", " ", "\u00a0", "\x1c", "x", "GB", "gb", "G", "london-gb", "london-", "London", 0, 1, -1, 2, 0.5, 59.9,
    60.0, 60.000001, 100.0, 100.1, 850, 1100.5, -90, 180.0, 361, 1e9, 10**30, True, False, math.nan, math.inf, [], {},
    "2026-11-23T14:00:00Z", "2024-02-29T00:00:00.5Z", "2025-02-29T00:00:00Z", "2026-11-23T14:00:00.Z",
    "2026-11-23T14:00:00.1234567Z", "2026-11-23T14:00:00", "2026-04-31T00:00:00Z", "2026-11-23T14:00:00z",
    "2026-11-23T14:00:00Z\n", {"name": "roof"}, {"name": ["roof"]}, {"": 1}, {"k": "x" * 300},
]  # fmt: skip


def good_station_record() -> dict:
    """A valid schema-v2 record (a station's reading)."""
    reading = {"station_id": "ws-1", "latitude": 51.5, "longitude": -0.1, "timestamp": "2026-11-23T14:00:00Z",
               "temperature": 7.0, "humidity": 80, "pressure": 1013.0, "wind_speed": 3.0, "metadata": {"name": "roof"}}
    return normalise(orjson.dumps(reading), "mqtt", now=HOUR)


def mutants(count: int):
    """Good records (of both schema versions) with one or two fields set to a value from POOL, or a field taken away."""
    import random

    rng = random.Random(1)
    for i in range(count):
        record = good_record() if i % 2 else good_station_record()  # schema v1 and v2 alike
        for field in rng.sample(list(record), rng.choice((1, 1, 1, 2))):
            if rng.random() < 0.1:
                del record[field]
            else:
                record[field] = rng.choice(POOL)
        yield record


def spy_on(monkeypatch, name: str) -> list:
    """Record what is handed to ``validation.<name>``, which still runs."""
    calls = []
    real = getattr(validation, name)

    def spy(arg):
        calls.append(arg)
        return real(arg)

    monkeypatch.setattr(validation, name, spy)
    return calls


@pytest.fixture
def explained(monkeypatch) -> list:
    """What validate() hands to the explaining check: the objects its fast check refused."""
    return spy_on(monkeypatch, "explain")


@pytest.fixture
def parsed(monkeypatch) -> list:
    """What validated_date() hands to parse(): the values its fast check refused."""
    return spy_on(monkeypatch, "parse")


def test_validate_answers_from_the_fast_check_exactly_when_the_explaining_check_accepts(explained):
    """validate() answers from its fast check and hands what that refuses to explain(), for
    the reason. The fast check accepting what explain() refuses would be a silent schema
    hole; refusing what it accepts, a slow path for good records."""
    fast_accepted = 0
    for record in mutants(4000):
        accepts = explain_accepts(record)
        explained.clear()
        if accepts:
            assert records.validate(record) is record
        else:
            with pytest.raises(InvalidRecord):
                records.validate(record)
        fast = not explained
        assert fast == accepts, record
        fast_accepted += fast
    assert 500 < fast_accepted < 3500  # both kinds of answer were exercised


def test_the_sinks_check_of_bytes_agrees_with_parse(parsed):
    """validated_date() decodes bytes straight into the schema's msgspec struct: it must
    accept exactly what parse() accepts, give the same date, and leave every refusal to
    parse(), for its reason."""
    good = records.encode(good_record())
    edits = [
        b"", b" ", b"null", b"[]", b"{}", good + b"x", good[:-1], b"\xef\xbb\xbf" + good, b"  " + good + b"\n ",
        good.replace(b'"London"', b'"Lon\xff"'), good.replace(b'"London"', b'"\\ud800"'),
        good.replace(b'"London"', b'"\\u00a0"'), good.replace(b'"London"', b'"\\u0000"'),
        good.replace(b'"temperature":12.3', b'"temperature":NaN'),
        good.replace(b'"temperature":12.3', b'"temperature":1e400'),
        good.replace(b'"temperature":12.3', b'"temperature":1' + b"0" * 30),
        good.replace(b'"temperature":12.3', b'"temperature":-0'),
        good.replace(b'"schema_version":1', b'"schema_version":1.0'),
        good[:-1] + b',"temperature":500}',  # a repeated key: the last one counts
        good.replace(b'"temperature":12.3', b'"temperature":500')[:-1] + b',"temperature":5}',
    ]  # fmt: skip
    # The standard library's encoder writes what orjson refuses to (huge ints, NaN).
    values = [json.dumps(record, ensure_ascii=False).encode() for record in mutants(4000)] + edits
    fast_accepted = 0
    for value in values:
        try:
            expected = records.parse(value)["timestamp"][:10]
        except InvalidRecord as error:
            expected = error
        parsed.clear()
        if isinstance(expected, InvalidRecord):
            with pytest.raises(InvalidRecord) as caught:
                records.validated_date(value)
            assert str(caught.value) == str(expected)
            assert parsed, value  # never accepted by the fast check
        else:
            assert records.validated_date(value) == expected
            fast_accepted += not parsed
    assert fast_accepted > 500

    parsed.clear()
    assert records.validated_date(good) == "2026-11-23"
    assert not parsed  # the common case takes the fast path
    assert records.validated_date(edits[-1]) == "2026-11-23"
    assert parsed == [edits[-1]]  # a repeated key: parse() decides
