"""A test double for an HDFS cluster's WebHDFS REST API: one NameNode and one DataNode.

What it stands in for
---------------------
The HTTP side of a NameNode (``/webhdfs/v1/<path>?op=...&user.name=...`` on its own
port) and of a DataNode (another port), as documented in Hadoop's "WebHDFS REST API"
and as implemented by ``NamenodeWebHdfsMethods``, the DataNode's ``WebHdfsHandler`` and
both ``ExceptionHandler`` classes. The namespace is a real temporary directory.

- GETFILESTATUS, LISTSTATUS (sorted), GETHOMEDIRECTORY, MKDIRS, DELETE (``recursive``),
  RENAME (``destination``) with the old rename's answers: ``{"boolean": false}`` when
  the source is missing, the destination exists or its parent is missing; a source
  renamed onto an existing *directory* is moved *into* it, as HDFS does.
- CREATE and OPEN in two steps: the NameNode answers 307 with a ``Location`` on the
  DataNode's port (host name configurable, ``namenoderpcaddress`` and the other
  parameters carried over); the DataNode creates the file before reading the body
  (the file is visible, then growing, from that moment), honours ``overwrite``
  (default false -> 403 FileAlreadyExistsException), answers ``201 Created`` with
  ``Location: hdfs://...`` and ``Connection: close``; OPEN honours offset/length and
  sends Content-Length.
- Errors as ``{"RemoteException": {"exception", "javaClassName", "message"}}`` with the
  status HDFS's ExceptionHandler gives: FileNotFoundException 404; other IOExceptions
  (SafeModeException, StandbyException, RetriableException, FileAlreadyExists...) 403;
  IllegalArgument/UnsupportedOperation (bad op, bad parameter, a ``:`` in a path) 400;
  anything else 500.

Faults, injected with ``fail_next(n, kind, op=None)`` (``op`` narrows it to one
operation) or set with ``safe_mode = True``:

=====================  =======================================================
``connection``         NameNode closes the socket without answering (before acting)
``lost_response``      NameNode carries the operation out, then closes without answering
``hang``               NameNode answers nothing until ``hang_seconds`` pass, then closes
``safemode``           the refusal of a NameNode in safe mode (403 SafeModeException),
                       only for mutating operations and where HDFS raises it: MKDIRS,
                       RENAME, DELETE at the NameNode, CREATE at the DataNode
``retriable``          like safemode, wrapped as an HA NameNode does (RetriableException)
``standby``            403 StandbyException for any NameNode operation
``server_error``       500 with a RuntimeException body
``access_denied``      403 AccessControlException (not transient)
``datanode_connection``  DataNode closes the socket without answering
``datanode_dies``      DataNode dies mid-transfer: CREATE keeps half the body in the
                       file and drops the connection; OPEN sends half the promised bytes
=====================  =======================================================

Every request is recorded (``requests``) for assertions.

What it does not model
----------------------
Security (Kerberos, delegation tokens; ``user.name`` is recorded, permissions and
owners are not enforced), blocks, replication and several DataNodes, leases (a died
write leaves a closed partial file, as after the DataNode's cleanup; no
AlreadyBeingCreatedException), the rename options of ``rename2`` (``renameoptions`` is
refused), APPEND, snapshots, ACLs, xattrs, checksums, quotas, trash, LISTSTATUS_BATCH,
``noredirect``, HttpFS, and any timing or throughput of a real cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

PREFIX = "/webhdfs/v1"
BLOCK_SIZE = 128 * 1024 * 1024

JAVA_CLASSES = {
    "AccessControlException": "org.apache.hadoop.security.AccessControlException",
    "FileAlreadyExistsException": "org.apache.hadoop.fs.FileAlreadyExistsException",
    "FileNotFoundException": "java.io.FileNotFoundException",
    "IllegalArgumentException": "java.lang.IllegalArgumentException",
    "InvalidPathException": "org.apache.hadoop.fs.InvalidPathException",
    "IOException": "java.io.IOException",
    "ParentNotDirectoryException": "org.apache.hadoop.fs.ParentNotDirectoryException",
    "PathIsNotEmptyDirectoryException": "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
    "RetriableException": "org.apache.hadoop.ipc.RetriableException",
    "RuntimeException": "java.lang.RuntimeException",
    "SafeModeException": "org.apache.hadoop.hdfs.server.namenode.SafeModeException",
    "StandbyException": "org.apache.hadoop.ipc.StandbyException",
    "UnsupportedOperationException": "java.lang.UnsupportedOperationException",
}
# ExceptionHandler's mapping, by what each Java class extends.
STATUS = {
    "FileNotFoundException": 404,
    "IllegalArgumentException": 400,
    "InvalidPathException": 400,  # a HadoopIllegalArgumentException
    "UnsupportedOperationException": 400,
    "RuntimeException": 500,
}  # everything else is an IOException: 403

NAMENODE_FAULTS = {"connection", "lost_response", "hang", "standby", "server_error", "access_denied"}
SAFE_MODE_FAULTS = {"safemode", "retriable"}
DATANODE_FAULTS = {"datanode_connection", "datanode_dies"}
KINDS = NAMENODE_FAULTS | SAFE_MODE_FAULTS | DATANODE_FAULTS

GET_OPS = {"GETFILESTATUS", "LISTSTATUS", "OPEN", "GETHOMEDIRECTORY"}
PUT_OPS = {"CREATE", "MKDIRS", "RENAME"}
DELETE_OPS = {"DELETE"}
# Where a NameNode in safe mode refuses: the namespace changes (CREATE at the DataNode,
# whose create() call to the NameNode is what is refused).
SAFE_MODE_CHECKED = {("namenode", "MKDIRS"), ("namenode", "RENAME"), ("namenode", "DELETE"), ("datanode", "CREATE")}
SAFE_MODE_VERBS = {
    "MKDIRS": "Cannot create directory ",
    "RENAME": "Cannot rename ",
    "DELETE": "Cannot delete ",
    "CREATE": "Cannot create file",
}
SAFE_MODE_TIP = (
    ". Name node is in safe mode.\nThe reported blocks 0 needs additional 1 blocks to reach the threshold "
    "0.9990 of total blocks 1.\nThe minimum number of live datanodes is not required. Safe mode will be "
    "turned off automatically once the thresholds have been reached. NamenodeHostName:namenode"
)


class RemoteError(Exception):
    """A Java exception as the WebHDFS ExceptionHandler serialises it."""

    def __init__(self, exception: str, message: str) -> None:
        super().__init__(message)
        self.exception = exception
        self.message = message

    @property
    def status(self) -> int:
        return STATUS.get(self.exception, 403)

    def body(self) -> dict:
        return {
            "RemoteException": {
                "exception": self.exception,
                "javaClassName": JAVA_CLASSES[self.exception],
                "message": self.message,
            }
        }


@dataclass
class Request:
    """One HTTP request as the double saw it."""

    server: str  # "namenode" or "datanode"
    method: str
    op: str
    path: str  # the HDFS path, decoded
    params: dict[str, str]
    body_size: int = 0
    fault: str | None = None


@dataclass
class _Fault:
    kind: str
    remaining: int
    op: str | None

    def applies(self, server: str, op: str) -> bool:
        if self.op is not None and self.op != op:
            return False
        if self.kind in NAMENODE_FAULTS:
            return server == "namenode"
        if self.kind in SAFE_MODE_FAULTS:
            return (server, op) in SAFE_MODE_CHECKED
        return server == "datanode" and op in ("CREATE", "OPEN")


@dataclass
class _State:
    faults: list[_Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)


class WebHdfsDouble:
    """A NameNode and a DataNode on 127.0.0.1, backed by ``storage`` (a directory).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    ``datanode_host`` is the host name the NameNode puts in its redirects;
    ``advertised_datanode`` (``host:port``) replaces the whole address, e.g. to send
    clients to a DataNode nobody can reach.
    """

    def __init__(
        self,
        storage: str | os.PathLike[str],
        *,
        datanode_host: str = "127.0.0.1",
        advertised_datanode: str | None = None,
        hang_seconds: float = 5.0,
    ) -> None:
        self.storage = Path(storage)
        self.datanode_host = datanode_host
        self.advertised_datanode = advertised_datanode
        self.hang_seconds = hang_seconds
        #: While True, the namespace refuses changes as a NameNode in safe mode does.
        self.safe_mode = False
        self._lock = threading.RLock()
        self._state = _State()
        self._release = threading.Event()
        self._internal_errors: list[str] = []
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> WebHdfsDouble:
        self.storage.mkdir(parents=True, exist_ok=True)
        for role in ("namenode", "datanode"):
            server = _Server(("127.0.0.1", 0), _Handler)
            server.double = self
            server.role = role
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"webhdfs-{role}", daemon=True
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._release.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> WebHdfsDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The NameNode's WebHDFS base URL, what WEBHDFS_URL would be."""
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def datanode_url(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    @property
    def datanode_address(self) -> str:
        """``host:port`` that the NameNode's redirects point to."""
        return self.advertised_datanode or f"{self.datanode_host}:{self._servers[1].server_address[1]}"

    # -- faults and records ----------------------------------------------------------

    def fail_next(self, n: int = 1, kind: str = "connection", *, op: str | None = None) -> None:
        """Make the next ``n`` requests that ``kind`` applies to (and ``op``, if given) fail."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(KINDS)}")
        with self._lock:
            self._state.faults.append(_Fault(kind, n, op.upper() if op else None))

    def pending_faults(self) -> int:
        with self._lock:
            return sum(fault.remaining for fault in self._state.faults)

    def reset(self) -> None:
        """Forget faults and recorded requests, leave safe mode, release hung requests."""
        with self._lock:
            self._state = _State()
            self.safe_mode = False
        self._release.set()
        self._release = threading.Event()

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._state.requests)

    def ops(self, server: str | None = None) -> list[tuple[str, str, str]]:
        """``(server, op, path)`` of each recorded request, optionally for one server."""
        return [(r.server, r.op, r.path) for r in self.requests if server in (None, r.server)]

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of bugs in the double itself (answered as 500); should stay empty."""
        return list(self._internal_errors)

    def local_path(self, hdfs_path: str) -> Path:
        """Where ``hdfs_path`` lives in the backing directory."""
        return self.storage / hdfs_path.lstrip("/")

    # -- used by the handler ---------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self._state.requests.append(request)

    def _take_fault(self, server: str, op: str) -> str | None:
        with self._lock:
            for fault in self._state.faults:
                if fault.remaining > 0 and fault.applies(server, op):
                    fault.remaining -= 1
                    return fault.kind
            if self.safe_mode and (server, op) in SAFE_MODE_CHECKED:
                return "safemode"
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    double: WebHdfsDouble
    role: str


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Jetty on the NameNode
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- request plumbing ------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        double, role = self.server.double, self.server.role
        url = urlsplit(self.path)
        params = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        op = params.get("op", "").upper()
        if not url.path.startswith(PREFIX):
            self._drain()
            self._send_json(404, {"error": f"no such resource {url.path}"})
            return
        hdfs_path = _normalise(unquote(url.path[len(PREFIX) :]) or "/")
        record = Request(role, method, op, hdfs_path, params)
        double._record(record)
        fault = double._take_fault(role, op)
        record.fault = fault
        try:
            if fault in ("connection", "datanode_connection"):
                self._drop()
                return
            if fault == "hang":
                double._release.wait(double.hang_seconds)
                self._drop()
                return
            remote = _fault_error(fault, op, hdfs_path)
            if remote is not None:
                record.body_size = self._drain()
                self._send_error(remote)
                return
            _check_path(hdfs_path)
            if role == "namenode":
                self._namenode(method, op, hdfs_path, params, record, lost_response=fault == "lost_response")
            else:
                self._datanode(method, op, hdfs_path, params, record, dies=fault == "datanode_dies")
        except RemoteError as error:
            record.body_size += self._drain()
            self._send_error(error)
        except Exception:  # a bug in the double: answer as a Java server would, and keep it
            double._internal_errors.append(traceback.format_exc())
            self._send_error(RemoteError("RuntimeException", "internal error in the WebHDFS test double"))

    def _namenode(
        self, method: str, op: str, path: str, params: dict[str, str], record: Request, *, lost_response: bool
    ) -> None:
        record.body_size = self._drain()  # clients may send a body with the first step; it is ignored
        ops = {"GET": GET_OPS, "PUT": PUT_OPS, "DELETE": DELETE_OPS}.get(method, set())
        if op not in ops:
            kind = {"GET": "GetOpParam", "PUT": "PutOpParam", "POST": "PostOpParam"}.get(method, "DeleteOpParam")
            raise RemoteError(
                "IllegalArgumentException",
                f'Invalid value for webhdfs parameter "op": No enum constant '
                f"org.apache.hadoop.hdfs.web.resources.{kind}.Op.{op}",
            )
        namespace = _Namespace(self.server.double)
        status, headers, body = 200, {}, None
        if op == "GETFILESTATUS":
            body = {"FileStatus": namespace.status(path)}
        elif op == "LISTSTATUS":
            body = {"FileStatuses": {"FileStatus": namespace.listing(path)}}
        elif op == "GETHOMEDIRECTORY":
            body = {"Path": f"/user/{params.get('user.name', 'dr.who')}"}
        elif op == "MKDIRS":
            body = {"boolean": namespace.mkdirs(path)}
        elif op == "RENAME":
            if params.get("renameoptions"):
                raise RemoteError(
                    "UnsupportedOperationException", "renameoptions (rename2) is not modelled by the double"
                )
            destination = params.get("destination", "")
            if not destination:
                raise RemoteError(
                    "IllegalArgumentException", "Required param destination for op: RENAME is null or empty"
                )
            if not destination.startswith("/"):
                raise RemoteError(
                    "IllegalArgumentException",
                    f'Invalid value for webhdfs parameter "destination": Invalid parameter value: '
                    f"destination = {destination} is not an absolute path.",
                )
            body = {"boolean": namespace.rename(path, _normalise(destination))}
        elif op == "DELETE":
            body = {"boolean": namespace.delete(path, _parse_bool(params, "recursive", False))}
        elif op in ("CREATE", "OPEN"):
            if op == "OPEN":
                namespace.check_readable(path)
            status, headers = 307, {"Location": self._redirect(op, path, params)}
        if lost_response:
            self._drop()
            return
        if body is None:
            self._send(status, b"", "application/octet-stream", headers)
        else:
            self._send_json(status, body, headers)

    def _redirect(self, op: str, path: str, params: dict[str, str]) -> str:
        double = self.server.double
        carried = {key: value for key, value in params.items() if key not in ("op", "user.name", "doas")}
        query = {"op": op, "user.name": params.get("user.name", "dr.who"), "namenoderpcaddress": "namenode:8020"}
        if op == "CREATE":
            query.update({"createflag": "", "createparent": "true", "overwrite": "false"})
        else:
            query["offset"] = "0"
        query.update(carried)
        return f"http://{double.datanode_address}{PREFIX}{quote(path, safe='/=')}?{urlencode(query)}"

    def _datanode(
        self, method: str, op: str, path: str, params: dict[str, str], record: Request, *, dies: bool
    ) -> None:
        if not ((op == "CREATE" and method == "PUT") or (op == "OPEN" and method == "GET")):
            raise RemoteError("IllegalArgumentException", f"Invalid operation {op}")
        if not params.get("namenoderpcaddress"):
            raise RemoteError("IllegalArgumentException", "Required param namenoderpcaddress is null or empty")
        namespace = _Namespace(self.server.double)
        if op == "OPEN":
            data = namespace.read(path, int(params.get("offset") or 0), int(params.get("length") or -1))
            if dies:
                self._send_headers(200, "application/octet-stream", len(data), {"Connection": "close"})
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self._drop()
                return
            self._send(200, data, "application/octet-stream", {"Connection": "close"})
            return
        # CREATE: like WebHdfsHandler.onCreate, answer "100 Continue", create the file
        # (visible from now on), then stream the body into it.
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.wfile.flush()
        with namespace.create(path, _parse_bool(params, "overwrite", False)) as file:
            length = self._body_length()
            if dies:
                chunk = self.rfile.read(length // 2) if length is not None else self.rfile.read1(65536)
                file.write(chunk)
                record.body_size = len(chunk)
                file.flush()
                self._drop()
                return
            for chunk in self._body_chunks():
                file.write(chunk)
                record.body_size += len(chunk)
        location = f"hdfs://{params['namenoderpcaddress']}{quote(path)}"
        self._send(201, b"", "application/octet-stream", {"Location": location, "Connection": "close"})

    # -- HTTP helpers ----------------------------------------------------------------

    def _body_length(self) -> int | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return None
        return int(self.headers.get("Content-Length") or 0)

    def _body_chunks(self):
        length = self._body_length()
        if length is None:
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk

    def _drain(self) -> int:
        return sum(len(chunk) for chunk in self._body_chunks())

    def _drop(self) -> None:
        """Close the connection with no (further) answer, as a crashed server would."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_headers(self, status: int, content_type: str, length: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if (headers or {}).get("Connection") == "close":
            self.close_connection = True

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self._send_headers(status, content_type, len(body), headers)
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _send_error(self, error: RemoteError) -> None:
        close = {"Connection": "close"} if self.server.role == "datanode" else None
        self._send_json(error.status, error.body(), close)


class _Namespace:
    """HDFS namespace semantics over the backing directory (one lock, like the FSNamesystem's)."""

    def __init__(self, double: WebHdfsDouble) -> None:
        self.double = double
        self.lock = double._lock

    def local(self, path: str) -> Path:
        return self.double.local_path(path)

    def status(self, path: str, suffix: str = "") -> dict:
        local = self.local(path)
        try:
            st = local.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise RemoteError("FileNotFoundException", f"File does not exist: {path}") from None
        directory = local.is_dir()
        return {
            "accessTime": 0 if directory else int(st.st_atime * 1000),
            "blockSize": 0 if directory else BLOCK_SIZE,
            "childrenNum": len(os.listdir(local)) if directory else 0,
            "fileId": st.st_ino,
            "group": "supergroup",
            "length": 0 if directory else st.st_size,
            "modificationTime": int(st.st_mtime * 1000),
            "owner": "hadoop",
            "pathSuffix": suffix,
            "permission": "755" if directory else "644",
            "replication": 0 if directory else 1,
            "storagePolicy": 0,
            "type": "DIRECTORY" if directory else "FILE",
        }

    def listing(self, path: str) -> list[dict]:
        with self.lock:
            local = self.local(path)
            if not local.exists():
                raise RemoteError("FileNotFoundException", f"File {path} does not exist.")
            if not local.is_dir():
                return [self.status(path)]
            return [self.status(_child(path, name), name) for name in sorted(os.listdir(local))]

    def mkdirs(self, path: str) -> bool:
        with self.lock:
            self._check_parents_are_directories(path, include_self=True)
            self.local(path).mkdir(parents=True, exist_ok=True)
            return True

    def delete(self, path: str, recursive: bool) -> bool:
        with self.lock:
            local = self.local(path)
            if path == "/" or not local.exists():
                return False
            if local.is_dir():
                if os.listdir(local) and not recursive:
                    raise RemoteError(
                        "PathIsNotEmptyDirectoryException", f"`{path} is non empty': Directory is not empty"
                    )
                shutil.rmtree(local)
            else:
                local.unlink()
            return True

    def rename(self, src: str, dst: str) -> bool:
        """The old (non-overwriting) rename of FSDirRenameOp, answers included."""
        with self.lock:
            source = self.local(src)
            if src == "/" or not source.exists():
                return False
            if self.local(dst).is_dir():
                dst = _child(dst, src.rsplit("/", 1)[1])
            if dst == src:
                return True
            if dst.startswith(src + "/"):
                return False
            target = self.local(dst)
            if target.exists() or not target.parent.is_dir():
                return False
            os.rename(source, target)
            return True

    def check_readable(self, path: str) -> None:
        local = self.local(path)
        if not local.exists():
            raise RemoteError("FileNotFoundException", f"File does not exist: {path}")
        if local.is_dir():
            raise RemoteError("FileNotFoundException", f"Path is not a file: {path}")

    def read(self, path: str, offset: int, length: int) -> bytes:
        # Check again (it may have gone since the NameNode's redirect) and open under the
        # lock; read outside it: like HDFS blocks, an open file survives a delete or rename.
        with self.lock:
            self.check_readable(path)
            file = open(self.local(path), "rb")  # noqa: SIM115 - closed just below, outside the lock
        with file:
            file.seek(offset)
            return file.read() if length < 0 else file.read(length)

    def create(self, path: str, overwrite: bool):
        with self.lock:
            local = self.local(path)
            if local.is_dir():
                raise RemoteError("FileAlreadyExistsException", f"{path} already exists as a directory")
            if local.exists() and not overwrite:
                raise RemoteError("FileAlreadyExistsException", f"{path} for client 127.0.0.1 already exists")
            self._check_parents_are_directories(path, include_self=False)
            local.parent.mkdir(parents=True, exist_ok=True)
            # Overwriting deletes the old file and creates a new one: open readers keep the old content.
            local.unlink(missing_ok=True)
            return open(local, "xb")

    def _check_parents_are_directories(self, path: str, *, include_self: bool) -> None:
        parts = [part for part in path.split("/") if part]
        prefixes = ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + (1 if include_self else 0))]
        for prefix in prefixes:
            local = self.local(prefix)
            if local.exists() and not local.is_dir():
                if prefix == path:
                    raise RemoteError("FileAlreadyExistsException", f"Path is not a directory: {path}")
                raise RemoteError("ParentNotDirectoryException", f"Parent path is not a directory: {prefix}")


def _fault_error(fault: str | None, op: str, path: str) -> RemoteError | None:
    if fault == "safemode":
        return RemoteError("SafeModeException", f"{SAFE_MODE_VERBS.get(op, 'Cannot ')}{path}{SAFE_MODE_TIP}")
    if fault == "retriable":
        return RemoteError(
            "RetriableException",
            f"org.apache.hadoop.hdfs.server.namenode.SafeModeException: "
            f"{SAFE_MODE_VERBS.get(op, 'Cannot ')}{path}{SAFE_MODE_TIP}",
        )
    if fault == "standby":
        category = "READ" if op in GET_OPS else "WRITE"
        return RemoteError(
            "StandbyException",
            f"Operation category {category} is not supported in state standby. Visit https://s.apache.org/sbnn-error",
        )
    if fault == "server_error":
        return RemoteError("RuntimeException", "java.lang.NullPointerException (injected by the test double)")
    if fault == "access_denied":
        return RemoteError(
            "AccessControlException",
            f'Permission denied: user=hadoop, access=WRITE, inode="{path}":root:supergroup:drwxr-xr-x',
        )
    return None


def _check_path(path: str) -> None:
    """DFSUtil.isValidName: no '.', '..' or ':' components."""
    for part in path.split("/"):
        if part in (".", "..") or ":" in part:
            raise RemoteError("InvalidPathException", f"Invalid path name Invalid file name: {path}")


def _normalise(path: str) -> str:
    path = "/" + path.strip("/")
    while "//" in path:
        path = path.replace("//", "/")
    return path


def _child(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name


def _parse_bool(params: dict[str, str], name: str, default: bool) -> bool:
    value = params.get(name, "")
    if value == "":
        return default
    if value.lower() not in ("true", "false"):
        raise RemoteError(
            "IllegalArgumentException",
            f'Invalid value for webhdfs parameter "{name}": Failed to parse "{value}" to Boolean.',
        )
    return value.lower() == "true"
