"""``weatherlake backup [list | verify ID]`` and ``weatherlake restore ID``."""

from __future__ import annotations

import sys

import click

from weatherlake.config import Settings


def _lakes(settings: Settings, location: str | None):
    from weatherlake.lake import open_lake, open_location

    return open_lake(settings), (open_location(settings, location, "--from") if location else None)


@click.group("backup", invoke_without_command=True)
@click.option("--copy-to", metavar="URL", help="Also copy it to file:///dir, hdfs://namenode:8020/dir or "
              "webhdfs://namenode:9870/dir (default: BACKUP_COPY_TO).")
@click.pass_context
def backup(ctx: click.Context, copy_to: str | None) -> None:
    """Back up the lake now, without stopping anything; prints BACKUP_ID=<id>.

    The raw data, the sink's state and each view's newest run: an HDFS snapshot, or
    hard links on a local lake, with a manifest of every file's SHA-256. Keeps the
    newest BACKUP_KEEP backups. `backup list` and `backup verify ID` inspect them;
    `weatherlake restore ID` brings one back.
    """
    if ctx.invoked_subcommand is not None:
        return
    from weatherlake.backup.core import create_backup
    from weatherlake.lake import open_location

    settings: Settings = ctx.obj
    lake, _ = _lakes(settings, None)
    location = copy_to or settings.backup_copy_to
    target = open_location(settings, location, "BACKUP_COPY_TO" if not copy_to else "--copy-to") if location else None
    manifest = create_backup(lake, keep=settings.backup_keep, copy_to=target)
    copies = f", copied to {', '.join(manifest.copies)}" if manifest.copies else ""
    click.echo(f"backup {manifest.id}: {len(manifest.files)} files, {manifest.bytes:,} bytes "
               f"({manifest.method}){copies}", err=True)
    click.echo(f"BACKUP_ID={manifest.id}")


@backup.command("list")
@click.pass_obj
def list_command(settings: Settings) -> None:
    """The lake's backups, oldest first, and the last run's status."""
    from weatherlake.backup.core import backup_status, list_backups

    lake, _ = _lakes(settings, None)
    for manifest in list_backups(lake):
        offsets = ", ".join(f"{key}@{part['next_offset']}" for key, part in sorted(manifest.partitions.items()))
        click.echo(f"{manifest.id}  {manifest.created_at}  {len(manifest.files):>6} files  {manifest.bytes:>14,} bytes"
                   f"  {manifest.method}  {offsets}")
    status = backup_status(lake)
    if status:
        last = status["last"]
        click.echo(f"last run: {last['backup_id']} {'ok' if last['ok'] else 'FAILED: ' + str(last['error'])} "
                   f"(finished {last['finished_at']})", err=True)


@backup.command("verify")
@click.argument("backup_id")
@click.option("--from", "location", metavar="URL", help="Verify the copy at this location instead.")
@click.pass_obj
def verify_command(settings: Settings, backup_id: str, location: str | None) -> None:
    """Check every file of a backup against its manifest (size and SHA-256); exit 1 on a difference."""
    from weatherlake.backup.core import verify_backup

    lake, source = _lakes(settings, location)
    manifest, problems = verify_backup(lake, backup_id, source)
    for problem in problems:
        click.echo(problem)
    if problems:
        click.echo(f"backup {backup_id}: {len(problems)} of {len(manifest.files)} files differ from the manifest",
                   err=True)
        sys.exit(1)
    click.echo(f"backup {backup_id}: all {len(manifest.files)} files ({manifest.bytes:,} bytes) match", err=True)


@click.command("restore")
@click.argument("backup_id")
@click.option("--force", is_flag=True, help="Replace a lake that holds data (stop the sink first).")
@click.option("--from", "location", metavar="URL", help="Restore the copy at this location (BACKUP_COPY_TO).")
@click.pass_obj
def restore(settings: Settings, backup_id: str, force: bool, location: str | None) -> None:
    """Bring a backup back into the lake; the sink then resumes from Kafka where it ends.

    Refuses a lake that holds data unless --force. Stop the sink first; it will not
    start until the restore has finished.
    """
    from weatherlake.backup.core import restore_backup

    lake, source = _lakes(settings, location)
    manifest = restore_backup(lake, backup_id, force=force, source=source)
    offsets = ", ".join(f"{key} at {part['next_offset']}" for key, part in sorted(manifest.partitions.items()))
    click.echo(f"restored backup {backup_id} ({len(manifest.files)} files); the sink resumes {offsets or 'from 0'}")
