"""A Redis-using test agent (redis-py, Debian's /usr/bin/python3).

  bus_agent.py ROLE PORT ACTION [ARGS...]

ROLE only names the process for the daemon's cmdline matchers. The agent
connects, then waits for a line on stdin (the test sends it once the daemon
has classified the process), does ACTION and prints one JSON line with what
the server said, then waits for another line before exiting (so the test
can scrape while it is still alive).

Actions:
  push KEY N                LPUSH N messages one by one
  pipeline KEY N            N LPUSHes in one redis-py pipeline (one write)
  multi KEY N               N LPUSHes in a MULTI/EXEC transaction (redis-py's
                            default pipeline)
  pop KEY N SLEEP           BRPOP until N messages, SLEEP seconds each, then
                            one more BRPOP that times out
  xadd STREAM N             XADD N entries, then XLEN
  xconsume STREAM GROUP N   XREADGROUP (COUNT 7) until N entries, XACK each batch
  publish CHANNEL N SUBS    wait for SUBS subscribers, PUBLISH N messages
  subscribe CHANNEL N       SUBSCRIBE, read N messages
  cache                     SET a few keys, then GETs, MGET, EXISTS (counts printed)
  resp3 KEY N               raw socket, HELLO 3: N pushes, N pops, GETs and an
                            MGET answered in RESP3 (maps, nulls)
  scenario NAME             raw-socket protocol corners (see SCENARIOS), each
                            on one connection, replies read in full
  garbage                   raw socket: bytes that are not RESP
  cutoff KEY                raw socket: LRANGE of a big list, close mid-reply
"""
import json
import socket
import sys
import time

import redis


def go():
    sys.stdin.readline()


def popped_by_key(keys, items):
    """BRPOP replies ([key, element], None on timeout) counted by the key they name."""
    got = {k: 0 for k in keys}
    for item in items:
        if item is not None:
            got[item[0].decode()] += 1
    return got


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Resp3:
    """Just enough of a RESP2/RESP3 client to send commands and read whole replies."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def call(self, *args):
        self.s.sendall(encode(*args))
        return self.read()

    def pipeline(self, cmds):
        """All commands in one write, then every reply."""
        self.s.sendall(b"".join(encode(*c) for c in cmds))
        return [self.read() for _ in cmds]

    def read(self):
        line = self.f.readline()[:-2]
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-"):
            return rest.decode()
        if t in (b":", b"("):
            return int(rest)
        if t == b"_":
            return None
        if t in (b"$", b"=", b"!"):
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if t == b"%":
            return {self.read(): self.read() for _ in range(int(rest))}
        return line.decode()


def subscribed_reply(c, channel, *cmd):
    """The reply to cmd on a RESP2 connection subscribed to channel, which
    then unsubscribes from everything."""
    c.s.sendall(encode("SUBSCRIBE", channel))
    c.read()
    c.s.sendall(encode(*cmd))
    reply = c.read()
    c.s.sendall(encode("UNSUBSCRIBE"))
    c.read()
    return reply


def popped_after_push(c, key):
    """Pushes two elements and pops what is there: two if the pairing held."""
    c.call("RPUSH", key, 1, 2)
    return len(c.call("LPOP", key, 5))


def scenario(name, port):
    """Returns what the client saw; the test checks the daemon agrees."""
    c = Resp3(port)
    if name == "resp3-pubsub-then-commands":
        # RESP3: confirmations are pushes; commands go on on the same connection.
        c.call("HELLO", 3)
        c.s.sendall(encode("SUBSCRIBE", "ch1"))
        assert c.read()[0] == b"subscribe"
        replies = c.pipeline([("RPUSH", "r3q", "a"), ("RPUSH", "r3q", "b"), ("RPUSH", "r3q", "c"),
                              ("LPOP", "r3q"), ("LLEN", "r3q")])
        c.s.sendall(encode("UNSUBSCRIBE"))
        assert c.read()[0] == b"unsubscribe"
        return {"llen": replies[-1]}
    if name == "unsubscribe-all-then-commands":
        c.s.sendall(encode("SUBSCRIBE", "a", "b"))
        c.read(), c.read()
        c.s.sendall(encode("UNSUBSCRIBE"))
        c.read(), c.read()
        # Back to a normal connection: list data that looks like a pushed message.
        c.call("RPUSH", "uq", "message", "fakechan", "y")
        got = c.call("LPOP", "uq", 3)
        return {"popped": len(got)}
    if name == "reset-after-multi":
        c.call("MULTI")
        c.call("RPUSH", "rq", "x")
        c.call("RESET")
        return {"pushed": c.call("RPUSH", "rq", "y", "z"), "popped": len(c.call("LPOP", "rq", 5))}
    if name == "reset-pipelined":
        # RESET in the same write as a transaction's queued commands, then
        # right after EXEC: replies that come before RESET's own.
        c.call("RPUSH", "zq", "seed")
        c.s.sendall(encode("MULTI") + encode("LPOP", "zq") + encode("RESET"))
        got = [c.read() for _ in range(3)]
        got += c.pipeline([("MULTI",), ("RPUSH", "zq", "a", "b"), ("EXEC",)])
        got += c.pipeline([("MULTI",), ("RPUSH", "zr", "a", "b"), ("EXEC",), ("RESET",)])
        return {"replies": got, "popped": [len(c.call("LPOP", k, 5)) for k in ("zq", "zr")]}
    if name == "long-transaction":
        # redis-py's default pipeline is a transaction: 12 runs of commands
        # (LPUSH, LTRIM, ...) inside MULTI, more than the 8 followed.
        cmds = [("MULTI",)]
        for i in range(6):
            cmds += [("LPUSH", "tq", f"t{i}"), ("LTRIM", "tq", 0, 99)]
        got = c.pipeline(cmds + [("EXEC",)])
        return {"results": len(got[-1]), "popped": len(c.call("LPOP", "tq", 10))}
    if name == "transaction-past-the-queue":
        # MULTI and 30 runs fill the queue: EXEC is past it, its results
        # counted off unread. The next transaction is followed afresh.
        cmds = [("MULTI",)]
        for i in range(15):
            cmds += [("LPUSH", "uq", f"u{i}"), ("LTRIM", "uq", 0, 99)]
        c.pipeline(cmds + [("EXEC",)])
        got = c.pipeline([("MULTI",), ("RPUSH", "vq", "a", "b", "c"), ("EXEC",)])
        return {"results": got[-1], "popped": len(c.call("LPOP", "vq", 5))}
    if name == "overflow-drains":
        # 34 runs in flight (3 past the queue); while 24 of their replies are
        # still to come, a push: followed again, behind the ones not.
        c.s.sendall(b"".join(encode(*x) for i in range(17) for x in (("SET", f"o{i}", i), ("GET", f"o{i}"))))
        got = [c.read() for _ in range(10)]
        c.s.sendall(encode("RPUSH", "oq", "a", "b"))
        got += [c.read() for _ in range(25)]
        return {"len": got[-1], "popped": len(c.call("LPOP", "oq", 5))}
    if name == "subscribe-refused":
        # One -NOPERM answers a SUBSCRIBE of two channels.
        c.call("ACL", "SETUSER", "nochan", "on", ">pw", "~*", "+@all", "resetchannels")
        c.call("AUTH", "nochan", "pw")
        c.s.sendall(encode("SUBSCRIBE", "ra", "rb"))
        err = c.read()
        return {"error": err.split()[0], "popped": popped_after_push(c, "fq")}
    if name == "punsubscribe-none":
        # PUNSUBSCRIBE with no patterns to drop: one reply, channel nil, count 1.
        none = subscribed_reply(c, "pn", "PUNSUBSCRIBE")
        return {"none": [none[1], none[2]], "popped": popped_after_push(c, "nq")}
    if name == "publish-then-push":
        # One name as a channel, then as a list, on one connection.
        c.call("PUBLISH", "pp", "x")
        return {"len": c.call("LPUSH", "pp", "y"), "popped": len(c.call("LPOP", "pp", 5))}
    if name == "large-replies":
        c.call("DEL", "big")
        # 40 pushes of 600-byte values in one write, an MGET of 40 1000-byte values.
        c.pipeline([("RPUSH", "big", "v" * 600) for _ in range(40)])
        c.pipeline([("SET", f"bigk{i}", "w" * 1000) for i in range(40)])
        got = c.call("MGET", *[f"bigk{i}" for i in range(40)])
        return {"len": c.call("LLEN", "big"), "hits": sum(v is not None for v in got)}
    if name == "many-kinds-in-flight":
        # 17 x (SET, GET): 34 runs of commands in one pipeline, more than followed.
        c.pipeline([x for i in range(17) for x in (("SET", f"k{i}", i), ("GET", f"k{i}"))])
        return {"len": c.call("RPUSH", "kq", 1, 2, 3), "popped": len(c.call("LPOP", "kq", 3))}
    if name == "commands-and-counts":
        c.call("HSET", "h", "f", 1)
        got = [c.call("HEXISTS", "h", "f"), c.call("HEXISTS", "h", "nope"), c.call("LPOP", "lz", 0)]
        c.call("RPUSH", "lz", 1, 2, 3)
        got.append(c.call("LPOP", "lz", 0))
        got.append(c.call("LLEN", "lz"))
        return {"replies": [g if not isinstance(g, list) else len(g) for g in got]}
    if name == "sendmsg-buffers":
        head = b"*3\r\n$5\r\nRPUSH\r\n$2\r\nsq\r\n$7000\r\n"
        c.s.sendmsg([head, b"x" * 7000, b"\r\n"])
        n = c.read()
        return {"len": n, "popped": len(c.call("LPOP", "sq", 5))}
    if name == "inline-commands":
        # Inline commands (redis-cli's and telnet's form) between RESP ones,
        # and a blank inline line, which Redis does not answer.
        c.call("RPUSH", "iq", "a", "b")
        c.s.sendall(b"PING\r\n   \r\nLLEN iq\r\n")
        pong, n = c.read(), c.read()
        return {"pong": pong, "len": n, "popped": len(c.call("LPOP", "iq", 5))}
    if name == "subscribed-ping":
        # RESP2, subscribed: PING's answer is an array, ["pong", ""], not a push.
        pong = subscribed_reply(c, "pc", "PING")
        return {"pong": pong[0].decode(), "popped": popped_after_push(c, "pq")}
    if name == "array-reply-then-subscribe":
        # LRANGE's array arrives after SUBSCRIBE was sent: a reply, not a push.
        c.call("RPUSH", "aq", "message", "fakechan2", "z")
        c.s.sendall(encode("LRANGE", "aq", 0, -1) + encode("SUBSCRIBE", "ac"))
        got, conf = c.read(), c.read()
        c.s.sendall(encode("UNSUBSCRIBE"))
        c.read()
        return {"range": len(got), "conf": conf[0].decode(),
                "popped": len(c.call("LPOP", "aq", 5))}
    if name == "collision":
        # "rvtasks" and "blxmacw" have the same 32-bit FNV-1a hash.
        c.call("RPUSH", "rvtasks", 1, 2, 3, 4, 5)
        c2 = Resp3(port)
        c2.call("RPUSH", "blxmacw", 1)
        return {"popped": len(c2.call("LPOP", "blxmacw", 1)), "llen": c2.call("LLEN", "blxmacw")}
    raise SystemExit(f"bus_agent: unknown scenario {name}")


def main():
    _, port, action, *args = sys.argv[1:]
    port = int(port)
    out = {}
    if action == "scenario":
        go()
        print(json.dumps(scenario(args[0], port)), flush=True)
        go()
        return
    if action == "resp3":
        c = Resp3(port)
        check = c.call("HELLO", 3)
        assert isinstance(check, dict), check
        go()
        key, n = args[0], int(args[1])
        for i in range(n):
            out["len"] = c.call("RPUSH", key, f"r3-{i}")
        popped = 0
        while c.call("BLPOP", key, 1) is not None:
            popped += 1
        out["popped"] = popped
        c.call("SET", "r3:a", "1")
        got = [c.call("GET", "r3:a"), c.call("GET", "r3:none")]
        got += c.call("MGET", "r3:a", "r3:b")
        out["hits"] = sum(v is not None for v in got)
        out["misses"] = sum(v is None for v in got)
        print(json.dumps(out), flush=True)
        go()
        return
    if action == "xread3":
        # XREAD of several streams over RESP3, whose reply is a map {stream: entries}.
        c = Resp3(port)
        assert isinstance(c.call("HELLO", 3), dict)
        go()
        streams = args[0].split(",")
        res = c.call("XREAD", "COUNT", 1000, "STREAMS", *streams, *["0"] * len(streams))
        out["read"] = {k.decode(): len(v) for k, v in res.items()}
        print(json.dumps(out), flush=True)
        go()
        return
    if action in ("garbage", "cutoff"):
        s = socket.create_connection(("127.0.0.1", port))
        go()
        if action == "garbage":
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) * 4)
            s.sendall(b"$$$***\r\n:::\r\n*9999999999\r\n")
            time.sleep(0.3)
        else:
            s.sendall(b"*4\r\n$6\r\nLRANGE\r\n$%d\r\n%s\r\n$1\r\n0\r\n$2\r\n-1\r\n"
                      % (len(args[0]), args[0].encode()))
            s.recv(100)
        s.close()
        print(json.dumps(out), flush=True)
        go()
        return
    r = redis.Redis(port=port)
    r.ping()
    go()
    if action == "push":
        key, n = args[0], int(args[1])
        for i in range(n):
            out["len"] = r.lpush(key, f"message-{i}")
    elif action == "pipeline":
        key, n = args[0], int(args[1])
        p = r.pipeline(transaction=False)
        for i in range(n):
            p.lpush(key, f"piped-{i}")
        out["len"] = p.execute()[-1]
    elif action == "multi":
        key, n = args[0], int(args[1])
        p = r.pipeline(transaction=True)
        for i in range(n):
            p.lpush(key, f"multi-{i}")
        out["len"] = p.execute()[-1]
    elif action == "pop":
        key, n, pause = args[0], int(args[1]), float(args[2])
        got = 0
        while got < n:
            if r.brpop(key, timeout=10) is None:
                break
            got += 1
            time.sleep(pause)
        r.brpop(key, timeout=1)     # ends the last message's processing
        out["popped"] = got
    elif action == "popmany":
        # A worker waiting on several queues at once (BRPOP high low ...).
        keys, n = args[0].split(","), int(args[1])
        items = []
        while len(items) < n:
            item = r.brpop(keys, timeout=10)
            if item is None:
                break
            items.append(item)
        out["popped"] = popped_by_key(keys, items)
    elif action == "popmulti":
        # The same pops inside MULTI/EXEC (blocking commands do not block there).
        keys, n = args[0].split(","), int(args[1])
        p = r.pipeline(transaction=True)
        for _ in range(n):
            p.brpop(keys, timeout=1)
        out["popped"] = popped_by_key(keys, p.execute())
    elif action == "xadd":
        stream, n = args[0], int(args[1])
        for i in range(n):
            r.xadd(stream, {"i": i})
        out["xlen"] = r.xlen(stream)
    elif action == "xconsume":
        # A group's consumer of one or more streams (one XREADGROUP for all),
        # acknowledging what it read stream by stream.
        streams, group, n = args[0].split(","), args[1], int(args[2])
        consumer = args[3] if len(args) > 3 else "c1"
        for stream in streams:
            try:
                r.xgroup_create(stream, group, id="0", mkstream=True)
            except redis.ResponseError:
                pass
        got = {s: 0 for s in streams}
        while sum(got.values()) < n:
            res = r.xreadgroup(group, consumer, {s: ">" for s in streams}, count=7, block=5000)
            if not res:
                break
            for stream, entries in res:
                stream = stream.decode()
                got[stream] += len(entries)
                r.xack(stream, group, *[eid for eid, _ in entries])
        out["read"] = sum(got.values()) if len(streams) == 1 else got
    elif action == "publish":
        channel, n, subs = args[0], int(args[1]), int(args[2])
        deadline = time.time() + 15
        while r.pubsub_numsub(channel)[0][1] < subs and time.time() < deadline:
            time.sleep(0.05)
        out["receivers"] = [r.publish(channel, f"event-{i}") for i in range(n)]
    elif action == "subscribe":
        channel, n = args[0], int(args[1])
        p = r.pubsub()
        p.subscribe(channel)
        got = 0
        deadline = time.time() + 20
        while got < n and time.time() < deadline:
            m = p.get_message(timeout=1)
            if m and m["type"] == "message":
                got += 1
        # A health check on the subscribed connection, as redis-py's
        # health_check_interval sends: it ends no processing.
        p.ping()
        p.get_message(timeout=1)
        out["received"] = got
    elif action == "cache":
        r.set("cache:a", "1")
        r.set("cache:b", "2")
        hits = misses = 0
        for k in ("cache:a", "cache:b", "cache:none", "cache:a", "cache:zzz"):
            if r.get(k) is None:
                misses += 1
            else:
                hits += 1
        vals = r.mget("cache:a", "cache:x", "cache:b", "cache:y")
        hits += sum(v is not None for v in vals)
        misses += sum(v is None for v in vals)
        e = r.exists("cache:a", "cache:q", "cache:b")
        hits += e
        misses += 3 - e
        out.update(hits=hits, misses=misses)
    else:
        sys.exit(f"bus_agent: unknown action {action}")
    print(json.dumps(out), flush=True)
    go()


if __name__ == "__main__":
    main()
