"""Where the raw data lives in the lake, and the sink's state: names and formats, no Kafka.

    raw/date=YYYY-MM-DD/<topic>+<p>+<first>+<last>.jsonl   committed lines of partition p
    raw/_tmp/<topic>+<p>+<first>+<last>.jsonl.g<G>-<token>  lines on their way there
    raw/_state/<topic>+<p>/<G>.json                         the sink's state, generation G

Every commit of a partition creates the next generation of its state with a rename that
never overwrites: of two writers that both saw generation G, exactly one creates G + 1,
and the other learns it was fenced. That makes the commit point a compare-and-set on the
lake itself, with no lock and no clock. A tmp file names the generation its writer was
about to create and the writer's token, so recovery can tell a dead writer's leftovers
(their generation is taken) from a live writer's files (it is not yet).

The sink (``ingest/sink.py``) writes all of this; compaction, the batch extract and the
web layer read it through this module.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field

import orjson

from weatherlake.errors import TargetExists
from weatherlake.lake.base import Lake, join

log = logging.getLogger(__name__)

RAW = "raw"
TMP = "raw/_tmp"
STATE = "raw/_state"
#: Written first and removed last by ``weatherlake restore``: the sink does not start while it is there.
RESTORE_MARKER = "_restore.json"
#: Generations kept behind the newest (older ones are deleted after each commit).
KEPT_GENERATIONS = 2

_GENERATION = re.compile(r"(\d{12})\.json")
_TMP_SUFFIX = re.compile(r"\.g(\d+)-([0-9a-f]+)")


def file_name(topic: str, partition: int, first: int, last: int) -> str:
    return f"{topic}+{partition}+{first:010d}+{last:010d}.jsonl"


def parse_file_name(name: str) -> tuple[str, int, int, int] | None:
    """(topic, partition, first, last) of a committed file name, or None for other files."""
    if not name.endswith(".jsonl"):
        return None
    parts = name[: -len(".jsonl")].split("+")  # Kafka topic names cannot contain '+'
    if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]):
        return None
    return parts[0], int(parts[1]), int(parts[2]), int(parts[3])


def date_dir(date: str) -> str:
    return f"{RAW}/date={date}"


def raw_dates(lake: Lake) -> list[str]:
    """The dates (``YYYY-MM-DD``) that have a raw directory, oldest first."""
    return sorted(name[len("date="):] for name in lake.list(RAW) if name.startswith("date="))


def live_files(names: list[str]) -> list[str]:
    """Committed file names of one date directory, minus those a merged file supersedes."""
    spans = sorted((parsed[0], parsed[1], parsed[2], -parsed[3], name)
                   for name in names if (parsed := parse_file_name(name)))
    live = []
    reach: tuple[str, int, int] | None = None  # (topic, partition, highest last so far)
    for topic, partition, _, negative_last, name in spans:
        last = -negative_last
        # By first offset, widest first: a file is covered by an earlier one reaching as far.
        if reach is not None and reach[:2] == (topic, partition) and reach[2] >= last:
            continue
        live.append(name)
        reach = (topic, partition, last)
    return sorted(live)


def live_file_sizes(lake: Lake, date: str) -> dict[str, int]:
    """The live committed files of ``date`` (:func:`live_files`) and their sizes, from one listing."""
    sizes = lake.sizes(date_dir(date))
    return {name: sizes[name] for name in live_files(list(sizes))}


def newest_first(names: list[str]) -> list[str]:
    """Committed file names by their last offset, highest first: within a partition, newest first."""
    return sorted(names, key=lambda name: parse_file_name(name)[3], reverse=True)


def tmp_name(final_name: str, generation: int, token: str) -> str:
    """A writer's name for lines it means to commit as generation ``generation``."""
    return f"{final_name}.g{generation}-{token}"


def parse_tmp_name(name: str) -> tuple[str, int, str] | None:
    """(final name, generation, token) of a sink tmp file name; None for other names."""
    base, dot, suffix = name.rpartition(".")
    match = _TMP_SUFFIX.fullmatch("." + suffix) if dot else None
    if not match or parse_file_name(base) is None:
        return None
    return base, int(match[1]), match[2]


def in_place(lake: Lake, final: str) -> bool:
    """Whether ``final``'s lines are in the lake: the file, or a merged file covering its range."""
    if lake.exists(final):
        return True
    directory, _, name = final.rpartition("/")
    topic, partition, first, last = parse_file_name(name)
    for other in lake.list(directory):
        parsed = parse_file_name(other)
        if parsed and parsed[:2] == (topic, partition) and parsed[2] <= first and last <= parsed[3]:
            return True
    return False


def new_token() -> str:
    return secrets.token_hex(6)


@dataclass
class PartitionState:
    """One generation of a partition's state.

    ``next_offset`` is the next Kafka offset to read; ``pending`` the (tmp, final) renames
    this generation's commit still owes; ``base`` is added to Kafka offsets in file names
    (non-zero once the topic was recreated); ``topic_id`` is Kafka's id of the topic the
    offsets belong to.
    """

    next_offset: int
    pending: list[tuple[str, str]] = field(default_factory=list)
    topic_id: str | None = None
    base: int = 0
    generation: int = 0

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"next_offset": self.next_offset, "pending": self.pending, "topic_id": self.topic_id, "base": self.base}
        )

    @classmethod
    def from_json(cls, data: bytes, generation: int = 0) -> PartitionState:
        obj = orjson.loads(data)
        pending = [(str(a), str(b)) for a, b in obj["pending"]]
        return cls(int(obj["next_offset"]), pending, obj.get("topic_id"), int(obj.get("base", 0)), generation)


def state_dir(topic: str, partition: int) -> str:
    return join(STATE, f"{topic}+{partition}")


def legacy_state_path(topic: str, partition: int) -> str:
    """The single state file of lakes written before generations; read as generation 0."""
    return join(STATE, f"{topic}+{partition}.json")


def generations(lake: Lake, topic: str, partition: int) -> list[int]:
    """The partition's state generations present in the lake, oldest first."""
    found = []
    for name in lake.list(state_dir(topic, partition)):
        match = _GENERATION.fullmatch(name)
        if match:
            found.append(int(match[1]))
    return sorted(found)


def load_state(lake: Lake, topic: str, partition: int) -> PartitionState | None:
    """The newest generation of the partition's state; None before its first commit."""
    for generation in reversed(generations(lake, topic, partition)):
        try:
            return PartitionState.from_json(lake.read(_generation_path(topic, partition, generation)), generation)
        except FileNotFoundError:
            continue  # pruned between the listing and the read: a newer one exists
    legacy = lake.read_atomic(legacy_state_path(topic, partition))
    if legacy is None:
        return None
    try:
        return PartitionState.from_json(legacy, 0)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.warning("ignoring a torn sink state file %s (no batch was committed with it)",
                    legacy_state_path(topic, partition))
        return None


def create_state(lake: Lake, topic: str, partition: int, state: PartitionState, token: str) -> bool:
    """Create generation ``state.generation``; False if another writer created it first.

    The content is written completely under a name of this writer's, then renamed to the
    generation's name, which never overwrites: the compare-and-set. Old generations are
    pruned, so a writer far behind could find its generation's name free: a newer
    generation present after the rename fences it too (generations only grow, and the
    newest is never pruned).
    """
    staged = join(state_dir(topic, partition), f".{state.generation:012d}-{token}.tmp")
    target = _generation_path(topic, partition, state.generation)
    lake.write(staged, state.to_json())
    try:
        lake.rename(staged, target)
    except TargetExists:
        lake.delete(staged)
        return False
    if generations(lake, topic, partition)[-1] > state.generation:
        # A generation this old was pruned, so the name was free: the writer is far behind.
        lake.delete(target)
        return False
    return True


def prune_states(lake: Lake, topic: str, partition: int, newest: int) -> None:
    """Delete generations older than the kept ones, and the legacy file once superseded."""
    for generation in generations(lake, topic, partition):
        if generation < newest - KEPT_GENERATIONS:
            lake.delete(_generation_path(topic, partition, generation))
    if newest == 1:
        lake.delete(legacy_state_path(topic, partition))


def state_partitions(lake: Lake) -> list[tuple[str, int]]:
    """(topic, partition) of every sink state in the lake (generations or a legacy file)."""
    found = set()
    for name in lake.list(STATE):
        topic, plus, number = name.removesuffix(".json").rpartition("+")
        if plus and number.isdigit():  # not compaction's journals and locks (compact+<date>...)
            found.add((topic, int(number)))
    return sorted(found)


def sink_positions(lake: Lake, topic: str) -> dict[int, int]:
    """{partition: next offset} the sink has committed for ``topic``."""
    positions = {}
    for state_topic, partition in state_partitions(lake):
        state = load_state(lake, topic, partition) if state_topic == topic else None
        if state is not None:
            positions[partition] = state.next_offset
    return positions


def _generation_path(topic: str, partition: int, generation: int) -> str:
    return join(state_dir(topic, partition), f"{generation:012d}.json")
