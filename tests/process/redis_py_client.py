#!/usr/bin/env python3
"""A Redis client library (Debian's python3-redis) against one node's Redis
port: connect (with AUTH and CLIENT SETNAME when a password is given),
commands, a pipeline, INFO. Exits 0 and prints "ok" if every check held;
an AssertionError names the one that did not."""
import sys

import redis

port = int(sys.argv[1])
password = sys.argv[2] if len(sys.argv) > 2 else None
r = redis.Redis(host="127.0.0.1", port=port, password=password,
                client_name="caf-raft-test", socket_timeout=15)
assert r.ping() is True
r.delete("py:n")  # a fresh start if the script ran here before
assert r.set("py:k", "v1") is True
assert r.get("py:k") == b"v1"
assert r.set("py:k", "v2", nx=True) is None
assert r.set("py:k", "v3", xx=True, get=True) == b"v1"
assert r.get("py:k") == b"v3"
assert r.incrby("py:n", 5) == 5
assert r.decr("py:n") == 4
assert r.mset({"py:a": "1", "py:b": "2"}) is True
assert r.mget("py:a", "py:b", "py:none") == [b"1", b"2", None]
assert r.exists("py:a", "py:b", "py:none") == 2
assert r.delete("py:a", "py:b", "py:none") == 2
assert r.execute_command("CAS", "py:k", "v3", "v4") == 1
assert r.execute_command("CAS", "py:k", "v3", "v5") == 0
assert r.client_getname() == "caf-raft-test"
# A pipeline without MULTI: 200 commands in one round trip, answers in order.
p = r.pipeline(transaction=False)
for i in range(100):
    p.set(f"py:p{i}", i)
    p.get(f"py:p{i}")
answers = p.execute()
assert answers[0::2] == [True] * 100, answers[:4]
assert answers[1::2] == [str(i).encode() for i in range(100)], answers[:4]
info = r.info("raft")
assert info["role"] in ("leader", "follower"), info
assert "voters" in info, info
assert r.dbsize() >= 102  # py:k, py:n, py:p0..99
try:
    r.execute_command("NOSUCHCOMMAND")
    raise AssertionError("an unknown command was accepted")
except redis.ResponseError as e:
    assert "unknown command" in str(e), e
print("ok")
