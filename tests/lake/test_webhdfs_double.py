"""The WebHDFS double speaks the protocol as HDFS does (raw HTTP and the ``hdfs`` client).

These pin the behaviour WebHdfsLake relies on, so a change to the double that drifts
from HDFS shows up here rather than as a lake bug.
"""

from __future__ import annotations

import pytest
import requests
from hdfs import HdfsError, InsecureClient

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def http(hdfs):
    session = requests.Session()
    session.params = {"user.name": "hadoop"}

    def call(method: str, path: str, **params) -> requests.Response:
        return session.request(method, f"{hdfs.url}/webhdfs/v1{path}", params=params, allow_redirects=False)

    yield call
    session.close()


def create(http, path: str, data: bytes, **params) -> requests.Response:
    redirect = http("PUT", path, op="CREATE", **params)
    assert redirect.status_code == 307
    return requests.put(redirect.headers["Location"], data=data)


def test_create_is_a_redirect_to_the_datanode_then_201(hdfs, http):
    redirect = http("PUT", "/d/a.txt", op="CREATE")
    location = redirect.headers["Location"]
    assert redirect.status_code == 307 and location.startswith(hdfs.datanode_url + "/webhdfs/v1/d/a.txt?")
    assert "namenoderpcaddress=" in location and "user.name=hadoop" in location
    created = requests.put(location, data=b"abc")
    assert created.status_code == 201
    assert created.headers["Location"] == "hdfs://namenode:8020/d/a.txt"
    assert hdfs.local_path("/d/a.txt").read_bytes() == b"abc"


def test_create_without_overwrite_on_an_existing_file_is_refused_by_the_datanode(http):
    create(http, "/a.txt", b"old")
    refused = create(http, "/a.txt", b"new")
    assert refused.status_code == 403
    assert refused.json() == {
        "RemoteException": {
            "exception": "FileAlreadyExistsException",
            "javaClassName": "org.apache.hadoop.fs.FileAlreadyExistsException",
            "message": "/a.txt for client 127.0.0.1 already exists",
        }
    }
    assert create(http, "/a.txt", b"new", overwrite="true").status_code == 201


def test_missing_paths_are_404_remote_exceptions(http):
    missing = http("GET", "/x", op="GETFILESTATUS")
    assert missing.status_code == 404
    assert missing.json() == {
        "RemoteException": {
            "exception": "FileNotFoundException",
            "javaClassName": "java.io.FileNotFoundException",
            "message": "File does not exist: /x",
        }
    }
    assert http("GET", "/x", op="OPEN").status_code == 404
    assert http("GET", "/x", op="LISTSTATUS").json()["RemoteException"]["message"] == "File /x does not exist."


def test_open_redirects_and_honours_offset_and_length(http):
    create(http, "/a.txt", b"0123456789")
    redirect = http("GET", "/a.txt", op="OPEN", offset=2, length=3)
    assert redirect.status_code == 307
    assert requests.get(redirect.headers["Location"]).content == b"234"


def test_liststatus_and_getfilestatus_shapes(http):
    create(http, "/d/b.txt", b"bb")
    http("PUT", "/d/a", op="MKDIRS")
    statuses = http("GET", "/d", op="LISTSTATUS").json()["FileStatuses"]["FileStatus"]
    assert [(s["pathSuffix"], s["type"], s["length"]) for s in statuses] == [
        ("a", "DIRECTORY", 0),
        ("b.txt", "FILE", 2),
    ]
    status = http("GET", "/d/b.txt", op="GETFILESTATUS").json()["FileStatus"]
    assert status["pathSuffix"] == "" and status["type"] == "FILE" and status["replication"] == 1


def test_rename_answers_false_for_an_existing_target_or_a_missing_source(hdfs, http):
    create(http, "/a.txt", b"a")
    create(http, "/b.txt", b"b")
    assert http("PUT", "/a.txt", op="RENAME", destination="/b.txt").json() == {"boolean": False}
    assert http("PUT", "/missing", op="RENAME", destination="/c.txt").json() == {"boolean": False}
    assert http("PUT", "/a.txt", op="RENAME", destination="/no/parent.txt").json() == {"boolean": False}
    assert hdfs.local_path("/b.txt").read_bytes() == b"b"
    assert http("PUT", "/a.txt", op="RENAME", destination="/c.txt").json() == {"boolean": True}


def test_rename_onto_a_directory_moves_into_it_as_hdfs_does(hdfs, http):
    create(http, "/a.txt", b"a")
    http("PUT", "/dir", op="MKDIRS")
    assert http("PUT", "/a.txt", op="RENAME", destination="/dir").json() == {"boolean": True}
    assert hdfs.local_path("/dir/a.txt").read_bytes() == b"a"


def test_rename_needs_an_absolute_destination(http):
    assert http("PUT", "/a", op="RENAME").status_code == 400
    assert http("PUT", "/a", op="RENAME", destination="rel").status_code == 400


def test_delete_of_a_non_empty_directory_needs_recursive(http):
    create(http, "/d/a.txt", b"a")
    refused = http("DELETE", "/d", op="DELETE")
    assert refused.status_code == 403
    assert refused.json()["RemoteException"]["exception"] == "PathIsNotEmptyDirectoryException"
    assert http("DELETE", "/d", op="DELETE", recursive="true").json() == {"boolean": True}
    assert http("DELETE", "/d", op="DELETE").json() == {"boolean": False}


def test_a_colon_in_a_path_is_an_invalid_path(http):
    refused = http("PUT", "/run=10:00", op="MKDIRS")
    assert refused.status_code == 400
    assert refused.json()["RemoteException"]["exception"] == "InvalidPathException"


def test_an_unknown_op_is_a_bad_request(http):
    refused = http("GET", "/", op="NOSUCHOP")
    assert refused.status_code == 400
    assert refused.json()["RemoteException"]["exception"] == "IllegalArgumentException"


def test_safe_mode_refuses_changes_but_not_reads(hdfs, http):
    create(http, "/a.txt", b"a")
    hdfs.safe_mode = True
    refused = http("PUT", "/d", op="MKDIRS")
    assert refused.status_code == 403
    remote = refused.json()["RemoteException"]
    assert remote["exception"] == "SafeModeException"
    assert remote["javaClassName"] == "org.apache.hadoop.hdfs.server.namenode.SafeModeException"
    assert remote["message"].startswith("Cannot create directory /d. Name node is in safe mode.")
    assert http("GET", "/a.txt", op="GETFILESTATUS").status_code == 200
    assert create(http, "/b.txt", b"b").status_code == 403  # refused at the DataNode's create()


def test_fail_next_counts_and_records(hdfs, http):
    hdfs.fail_next(1, "server_error", op="GETFILESTATUS")
    assert http("PUT", "/d", op="MKDIRS").status_code == 200
    assert http("GET", "/d", op="GETFILESTATUS").status_code == 500
    assert http("GET", "/d", op="GETFILESTATUS").status_code == 200
    assert [r.fault for r in hdfs.requests] == [None, "server_error", None]
    with pytest.raises(ValueError):
        hdfs.fail_next(1, "gremlins")


def test_a_connection_fault_closes_without_an_answer(hdfs, http):
    hdfs.fail_next(1, "connection")
    with pytest.raises(requests.ConnectionError):
        http("GET", "/", op="GETFILESTATUS")


# -- facts about the hdfs package that WebHdfsLake is built around ------------------------


def test_hdfs_client_rename_onto_an_existing_file_is_a_bare_hdfs_error(hdfs):
    client = InsecureClient(hdfs.url, user="hadoop")
    client.write("/a.txt", data=b"a")
    client.write("/b.txt", data=b"b")
    with pytest.raises(HdfsError, match="Unable to rename") as raised:
        client.rename("/a.txt", "/b.txt")
    assert raised.value.exception is None  # indistinguishable from a missing source
    with pytest.raises(HdfsError, match="Unable to rename"):
        client.rename("/missing.txt", "/c.txt")


def test_hdfs_client_status_not_strict_hides_every_error(hdfs):
    client = InsecureClient(hdfs.url, user="hadoop")
    client.write("/a.txt", data=b"a")
    hdfs.fail_next(1, "server_error")
    assert client.status("/a.txt", strict=False) is None  # the file is there: a 500 looks "missing"
    hdfs.fail_next(1, "standby")
    with pytest.raises(HdfsError):  # only Standby/RetriableException escape (after trying every URL)
        client.status("/a.txt", strict=False)
