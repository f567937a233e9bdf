"""Message-bus metrics from the agents' own traffic: a real redis-server
and nats-server started here, real redis-py agents and a NATS text-protocol
agent, exact counts checked against what the clients did and what the
server says."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from harness import AGENTBPF, AGENTS, PY, Daemon, Procs, check, eq, free_port, run, wait_until

AGENT = os.path.join(AGENTS, "bus_agent.py")
NATS_AGENT = os.path.join(AGENTS, "nats_agent.py")


class Redis:
    """A throwaway redis-server on a free loopback port."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cli("PING") == "PONG", 10, "redis-server up")

    def cli(self, *args):
        return run(["redis-cli", "-p", str(self.port), *args]).stdout.strip()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


class Agent:
    """bus_agent.py under a role name; it acts when told, then reports."""

    def __init__(self, ps, role, port, *action, script=AGENT):
        self.proc = ps.start([PY, script, role, str(port), *map(str, action)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self, timeout=60):
        deadline = time.time() + timeout
        line = self.proc.stdout.readline()
        check(line or time.time() < deadline, "bus agent printed nothing")
        return json.loads(line)

    def finish(self):
        self.go()
        self.proc.wait(15)


def cfg(redis, *roles, extra=""):
    out = f"bus_ports: [{redis.port}]\nagents:\n"
    for role in roles:
        out += f"  - name: {role}\n    match:\n      cmdline: \"*bus_agent.py {role} *\"\n"
    return out + extra


def start(d, ps, role, server, *action, script=AGENT):
    """An agent, classified by the daemon before it sends anything."""
    a = Agent(ps, role, server.port, *action, script=script)
    d.wait_value(1, "agent_processes", agent_type=role)
    a.go()
    return a


def messages(d, frm, to, typ):
    return d.value("message_bus_messages_total", from_agent=frm, to_agent=to, message_type=typ)


def delivered(d, to, typ, by_producer):
    """Deliveries to one consumer, each producer's exact."""
    for frm, n in by_producer.items():
        d.wait_value(n, "message_bus_messages_total", from_agent=frm, to_agent=to, message_type=typ)


def drained(d, consumer, queues, why):
    for q in queues:
        eq(d.value("message_bus_queue_depth", agent_type=consumer, queue=q), 0, f"{q} depth {why}")


def promtool_clean(d):
    r = subprocess.run(["promtool", "check", "metrics"], input=d.text(), capture_output=True, text=True)
    eq((r.returncode, r.stdout + r.stderr), (0, ""), "promtool check metrics on a scrape with bus series")


def no_bus_drops(d):
    for (name, labels), v in d.scrape().items():
        if name == "agentbpf_events_dropped_total" and dict(labels)["reason"].startswith("bus"):
            eq(v, 0, f"dropped {labels}")


def test_list_messages_and_depth_are_exact():
    with Redis() as r, Daemon(cfg(r, "producer", "consumer")) as d, Procs() as ps:
        # The producer runs ahead: 200 pushes one by one, then a pipeline of 100.
        p = start(d, ps, "producer", r, "push", "jobs", 200)
        eq(p.result()["len"], 200, "server's list length after the pushes")
        p.finish()
        p = start(d, ps, "producer", r, "pipeline", "jobs", 100)
        eq(p.result()["len"], 300, "server's list length after the pipeline")
        d.wait_value(int(r.cli("LLEN", "jobs")), "message_bus_queue_depth",
                     agent_type="producer", queue="jobs")
        eq(d.value("message_bus_queue_depth", agent_type="producer", queue="jobs"), 300,
           "depth while nobody consumes")
        p.finish()
        c = start(d, ps, "consumer", r, "pop", "jobs", 300, 0)
        eq(c.result()["popped"], 300, "messages the consumer popped")
        d.wait_value(300, "message_bus_messages_total", from_agent="producer",
                     to_agent="consumer", message_type="list")
        eq(int(r.cli("LLEN", "jobs")), 0, "server's list length at the end")
        eq(d.value("message_bus_queue_depth", agent_type="consumer", queue="jobs"), 0,
           "depth once consumed, under the consumer now that one was seen")
        c.finish()
        no_bus_drops(d)
        promtool_clean(d)


def test_blocking_pop_on_several_queues_counts_the_queue_it_took_from():
    # Two producers, each with its own queue; one worker BRPOPs both at once.
    with Redis() as r, Daemon(cfg(r, "urgent", "batch", "worker")) as d, Procs() as ps:
        u = start(d, ps, "urgent", r, "push", "q:urgent", 30)
        u.result()
        b = start(d, ps, "batch", r, "push", "q:batch", 70)
        b.result()
        d.wait_value(70, "message_bus_queue_depth", agent_type="batch", queue="q:batch")
        w = start(d, ps, "worker", r, "popmany", "q:urgent,q:batch", 100)
        eq(w.result()["popped"], {"q:urgent": 30, "q:batch": 70}, "what the worker popped, by queue")
        delivered(d, "worker", "list", {"urgent": 30, "batch": 70})
        drained(d, "worker", ("q:urgent", "q:batch"),
                f"once drained (LLEN {r.cli('LLEN', 'q:urgent')}, {r.cli('LLEN', 'q:batch')})")
        w.finish()
        b.finish()
        # The same inside MULTI/EXEC: each pop's reply is an element of EXEC's array.
        b = start(d, ps, "batch", r, "push", "q:batch", 5)
        b.result()
        w = start(d, ps, "worker", r, "popmulti", "q:urgent,q:batch", 5)
        eq(w.result()["popped"], {"q:urgent": 0, "q:batch": 5}, "popped inside a transaction")
        d.wait_value(75, "message_bus_messages_total", from_agent="batch", to_agent="worker",
                     message_type="list")
        queues = {dict(l)["queue"] for (n, l), _ in d.scrape().items() if n == "message_bus_queue_depth"}
        eq(queues, {"q:urgent", "q:batch"}, "queues: the lists, never a popped element")
        for a in (u, b, w):
            a.finish()
        no_bus_drops(d)


def test_processing_time_of_a_slow_consumer():
    with Redis() as r, Daemon(cfg(r, "producer", "consumer")) as d, Procs() as ps:
        p = start(d, ps, "producer", r, "push", "work", 5)
        p.result()
        c = start(d, ps, "consumer", r, "pop", "work", 5, 0.2)
        eq(c.result()["popped"], 5, "popped")
        d.wait_value(5, "message_bus_processing_duration_seconds_count", agent_type="consumer")
        s = d.scrape()
        total = s.get("message_bus_processing_duration_seconds_sum", agent_type="consumer")
        check(abs(total / 5 - 0.2) < 0.2 * 0.05, f"mean processing {total / 5:.4f}s, slept 0.2s")
        eq(s.get("message_bus_processing_duration_seconds_bucket", agent_type="consumer", le="0.1"), 0,
           "nothing faster than the sleep")
        eq(s.get("message_bus_processing_duration_seconds_bucket", agent_type="consumer", le="0.25"), 5,
           "all five in the 0.25 s bucket")
        eq(s.get("message_bus_processing_duration_seconds_count", agent_type="producer"), 0,
           "a producer processes nothing")
        p.finish()
        c.finish()


def test_streams_with_a_consumer_group():
    with Redis() as r, Daemon(cfg(r, "producer", "consumer")) as d, Procs() as ps:
        p = start(d, ps, "producer", r, "xadd", "events", 50)
        eq(p.result()["xlen"], 50, "XLEN")
        d.wait_value(50, "message_bus_queue_depth", agent_type="producer", queue="events")
        c = start(d, ps, "consumer", r, "xconsume", "events", "workers", 50)
        eq(c.result()["read"], 50, "entries the consumer read")
        d.wait_value(50, "message_bus_messages_total", from_agent="producer",
                     to_agent="consumer", message_type="stream")
        # XLEN said 50; the 50 XACKs seen since bring the balance to 0.
        eq(d.value("message_bus_queue_depth", agent_type="consumer", queue="events"), 0,
           "depth after every entry was acknowledged")
        p.finish()
        c.finish()
        no_bus_drops(d)


def test_stream_reads_of_several_streams_count_each_stream():
    # Two producers, each with its own stream; one worker reads both with one
    # XREADGROUP (its group and consumer named like the command's keyword),
    # another with one XREAD over RESP3, whose reply is a map.
    with Redis() as r, Daemon(cfg(r, "urgent", "batch", "worker", "auditor")) as d, Procs() as ps:
        u = start(d, ps, "urgent", r, "xadd", "s:urgent", 30)
        eq(u.result()["xlen"], 30, "XLEN s:urgent")
        b = start(d, ps, "batch", r, "xadd", "s:batch", 70)
        eq(b.result()["xlen"], 70, "XLEN s:batch")
        w = start(d, ps, "worker", r, "xconsume", "s:urgent,s:batch", "streams", 100, "STREAMS")
        eq(w.result()["read"], {"s:urgent": 30, "s:batch": 70}, "what the worker read, by stream")
        delivered(d, "worker", "stream", {"urgent": 30, "batch": 70})
        drained(d, "worker", ("s:urgent", "s:batch"), "once every entry was acknowledged")
        a = start(d, ps, "auditor", r, "xread3", "s:batch,s:urgent")
        eq(a.result()["read"], {"s:urgent": 30, "s:batch": 70}, "what the RESP3 reader read")
        delivered(d, "auditor", "stream", {"urgent": 30, "batch": 70})
        queues = {dict(l)["queue"] for (n, l), _ in d.scrape().items() if n == "message_bus_queue_depth"}
        eq(queues, {"s:urgent", "s:batch"}, "queues: the streams, never a keyword, group or consumer")
        for x in (u, b, w, a):
            x.finish()
        no_bus_drops(d)


def test_pubsub_two_subscribers():
    extra = 'queues:\n  - match: "alerts*"\n    type: alert\n'
    with Redis() as r, Daemon(cfg(r, "publisher", "sub1", "sub2", extra=extra)) as d, Procs() as ps:
        s1 = start(d, ps, "sub1", r, "subscribe", "alerts", 40)
        s2 = start(d, ps, "sub2", r, "subscribe", "alerts", 40)
        p = start(d, ps, "publisher", r, "publish", "alerts", 40, 2)
        eq(p.result()["receivers"], [2] * 40, "PUBLISH replies (receivers)")
        eq(s1.result()["received"], 40, "sub1 received")
        eq(s2.result()["received"], 40, "sub2 received")
        d.wait_value(40, "message_bus_messages_total", from_agent="publisher", to_agent="sub1",
                     message_type="alert")
        eq(messages(d, "publisher", "sub2", "alert"), 40, "publisher -> sub2")
        # Subscribers have no processing time, a PING after the messages included.
        for sub in ("sub1", "sub2"):
            eq(d.value("message_bus_processing_duration_seconds_count", agent_type=sub) or 0, 0,
               f"{sub} processing durations")
        for a in (p, s1, s2):
            a.finish()
        no_bus_drops(d)


def test_cache_hits_and_misses():
    with Redis() as r, Daemon(cfg(r, "cacher") + "    cache_type: llm_cache\n") as d, Procs() as ps:
        a = start(d, ps, "cacher", r, "cache")
        res = a.result()
        eq((res["hits"], res["misses"]), (7, 5), "what the client saw")
        d.wait_value(res["hits"], "cache_hits_total", cache_type="llm_cache")
        eq(d.value("cache_misses_total", cache_type="llm_cache"), res["misses"], "misses")
        a.finish()


def test_resp3_replies():
    with Redis() as r, Daemon(cfg(r, "producer")) as d, Procs() as ps:
        a = start(d, ps, "producer", r, "resp3", "r3q", 25)
        res = a.result()
        eq((res["len"], res["popped"], res["hits"], res["misses"]), (25, 25, 2, 2),
           "what the RESP3 client saw")
        # One agent both pushes and pops: it is the queue's producer and consumer.
        d.wait_value(25, "message_bus_messages_total", from_agent="producer", to_agent="producer",
                     message_type="list")
        eq(d.value("message_bus_queue_depth", agent_type="producer", queue="r3q"), 0,
           "depth after BLPOP answered null (RESP3 _)")
        eq((d.value("cache_hits_total", cache_type="producer"),
            d.value("cache_misses_total", cache_type="producer")), (2, 2), "cache counts")
        a.finish()
        no_bus_drops(d)


def test_pairing_survives_transactions_garbage_and_cut_replies():
    with Redis() as r, Daemon(cfg(r, "producer", "consumer", "noise")) as d, Procs() as ps:
        run(["redis-cli", "-p", str(r.port), "EVAL",
             "for i=1,5000 do redis.call('RPUSH', KEYS[1], string.rep('x', 200)) end", "1", "big"])
        g = start(d, ps, "noise", r, "garbage")
        g.result()
        g.finish()
        cut = start(d, ps, "noise", r, "cutoff", "big")
        cut.result()
        cut.finish()
        # A transaction: +QUEUED replies, then EXEC's array answers each push,
        # the last with the list's length.
        m = start(d, ps, "producer", r, "multi", "tasks", 10)
        eq(m.result()["len"], 10, "list length in EXEC's last result")
        d.wait_value(10, "message_bus_queue_depth", agent_type="producer", queue="tasks")
        m.finish()
        p = start(d, ps, "producer", r, "push", "tasks", 20)
        p.result()
        c = start(d, ps, "consumer", r, "pop", "tasks", 30, 0)
        eq(c.result()["popped"], 30, "popped")
        d.wait_value(30, "message_bus_messages_total", from_agent="producer",
                     to_agent="consumer", message_type="list")
        eq(d.value("message_bus_queue_depth", agent_type="consumer", queue="tasks"), 0, "depth")
        p.finish()
        c.finish()
        check(d.get("/healthz")[0] == 200, "daemon still healthy")


class NatsServer:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False
        wait_until(up, 10, "nats-server up")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


def nats_cfg(n, *roles):
    return cfg(n, *roles).replace("bus_agent.py", "nats_agent.py")


def nats_subscribed(d, ps, n, role, subject, group, *mode):
    """A NATS agent subscribed (in a queue group) and waiting to be told to report."""
    a = start(d, ps, role, n, "sub", subject, group, *mode, script=NATS_AGENT)
    eq(a.result(), {"ready": True}, f"{role} subscribed")
    return a


def nats_published(d, ps, n, subject, count, *mode):
    """natspub's count messages, published and flushed."""
    p = start(d, ps, "natspub", n, "pub", subject, count, *mode, script=NATS_AGENT)
    eq(p.result()["published"], count, "published")
    return p


def test_nats_queue_group_deliveries_are_exact():
    with NatsServer() as n, Daemon(nats_cfg(n, "natspub", "natsw1", "natsw2")) as d, Procs() as ps:
        # natsw2 acks each message JetStream's way: acks are not messages,
        # and their subjects (one per message) are not queues.
        subs = [nats_subscribed(d, ps, n, role, "tasks.summarize", "workers", *ack)
                for role, ack in (("natsw1", []), ("natsw2", ["ack"]))]
        p = nats_published(d, ps, n, "tasks.summarize", 100)
        got = []
        for a in subs:
            a.go()
            got.append(a.result()["received"])
        eq(sum(got), 100, f"deliveries to the queue group ({got})")
        check(all(got), f"both members of the queue group got messages ({got})")
        d.wait_value(got[0], "message_bus_messages_total", from_agent="natspub", to_agent="natsw1",
                     message_type="nats")
        eq(messages(d, "natspub", "natsw2", "nats"), got[1], "natspub -> natsw2")
        # An ack ends the processing of the messages read before it (a read
        # of several is one processing).
        wait_until(lambda: (d.value("message_bus_processing_duration_seconds_count",
                                    agent_type="natsw2") or 0) > 0, 10, "natsw2 processing")
        check(d.value("message_bus_processing_duration_seconds_count", agent_type="natsw2")
              <= got[1], "no more processings than messages")
        for a in subs + [p]:
            a.finish()
        no_bus_drops(d)


def test_nats_status_messages_are_not_deliveries():
    # HMSGs whose header is a status line ("NATS/1.0 100 Idle Heartbeat",
    # JetStream's heartbeats, flow control, 404/408 of pull requests) are
    # not messages.
    with NatsServer() as n, Daemon(nats_cfg(n, "natspub", "natsw1")) as d, Procs() as ps:
        w = nats_subscribed(d, ps, n, "natsw1", "tasks.hb", "hb")
        p = nats_published(d, ps, n, "tasks.hb", 40, "headers")
        w.go()
        eq(w.result(), {"received": 30, "statuses": 10}, "what the subscriber read")
        d.wait_value(30, "message_bus_messages_total", from_agent="natspub", to_agent="natsw1",
                     message_type="nats")
        for a in (w, p):
            a.finish()
        no_bus_drops(d)


def test_nats_inbox_deliveries_with_a_reply_to_are_work():
    # A JetStream pull consumer's messages arrive in its inbox, each with a
    # reply-to (its ack subject): work, whose processing the ack ends (a
    # plain reply to a request, with no reply-to, is not).
    with NatsServer() as n, Daemon(nats_cfg(n, "natspub", "puller")) as d, Procs() as ps:
        w = nats_subscribed(d, ps, n, "puller", "_INBOX.pull", "pullers", "ack")
        p = nats_published(d, ps, n, "_INBOX.pull", 20, "acked")
        w.go()
        eq(w.result()["received"], 20, "delivered")
        d.wait_value(20, "message_bus_messages_total", from_agent="natspub", to_agent="puller",
                     message_type="nats")
        wait_until(lambda: (d.value("message_bus_processing_duration_seconds_count",
                                    agent_type="puller") or 0) > 0, 10, "puller processing")
        for a in (w, p):
            a.finish()
        no_bus_drops(d)


def test_trace_prints_bus_events():
    with Redis() as r, Procs() as ps:
        path = os.path.join(tempfile.mkdtemp(prefix="agentbpf-trace-bus-"), "agentbpf.yml")
        with open(path, "w") as f:
            f.write(cfg(r, "producer", "consumer"))
        p = Agent(ps, "producer", r.port, "push", "traced", 3)
        c = Agent(ps, "consumer", r.port, "pop", "traced", 3, 0)
        tr = subprocess.Popen([AGENTBPF, "trace", "--json", "--config", path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            check("tracing 2 agents" in tr.stderr.readline(), "trace says it is ready")
            p.go()
            eq(p.result()["len"], 3, "pushed")
            c.go()
            eq(c.result()["popped"], 3, "popped")
            time.sleep(0.5)
            tr.terminate()
            out, err = tr.communicate(timeout=10)
            ev = [json.loads(l) for l in out.splitlines() if '"bus"' in l]
            got = [(e["agent"], e["kind"], e.get("queue"), e.get("messages", e.get("depth")))
                   for e in ev]
            eq(got, [("producer", "produce", "traced", 1), ("producer", "depth", "traced", 1),
                     ("producer", "produce", "traced", 1), ("producer", "depth", "traced", 2),
                     ("producer", "produce", "traced", 1), ("producer", "depth", "traced", 3),
                     ("consumer", "consume", "traced", 1), ("consumer", "consume", "traced", 1),
                     ("consumer", "consume", "traced", 1), ("consumer", "depth", "traced", 0)],
               f"traced bus events ({err})")
        finally:
            if tr.poll() is None:
                tr.kill()
            p.finish()
            c.finish()
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def test_queue_names_are_bounded():
    # max_queues: 3 distinct keys; pushes to 8 keys keep 3 depths, the rest count as "other".
    with Redis() as r, Daemon(cfg(r, "producer", "consumer", extra="max_queues: 3\n")) as d, \
            Procs() as ps:
        for i in range(8):
            p = start(d, ps, "producer", r, "push", f"q{i:02d}", 2)
            p.result()
            p.finish()
        c = start(d, ps, "consumer", r, "pop", "q07", 2, 0)
        eq(c.result()["popped"], 2, "popped from a key past the limit")
        d.wait_value(2, "message_bus_messages_total", from_agent="producer", to_agent="consumer",
                     message_type="list")
        s = d.scrape()
        depths = {dict(l)["queue"] for (n, l) in s if n == "message_bus_queue_depth"}
        eq(depths, {"q00", "q01", "q02"}, "only the first three keys have a depth of their own")
        eq(s.get("agentbpf_bpf_map_entries", map="bus_queues"), 4, "three queues and other")
        c.finish()
        no_bus_drops(d)


def test_queue_owner_from_config():
    extra = 'queues:\n  - match: "work:*"\n    to: consumer\n    type: task\n'
    with Redis() as r, Daemon(cfg(r, "producer", "consumer", extra=extra)) as d, Procs() as ps:
        p = start(d, ps, "producer", r, "push", "work:a", 5)
        p.result()
        d.wait_value(5, "message_bus_queue_depth", agent_type="consumer", queue="work:a")
        c = start(d, ps, "consumer", r, "pop", "work:a", 5, 0)
        eq(c.result()["popped"], 5, "popped")
        d.wait_value(5, "message_bus_messages_total", from_agent="producer", to_agent="consumer",
                     message_type="task")
        eq(d.value("message_bus_queue_depth", agent_type="consumer", queue="work:a"), 0, "depth")
        p.finish()
        c.finish()


def test_queue_depth_stays_with_its_first_consumer():
    with Redis() as r, Daemon(cfg(r, "producer", "consumer", "consumer2")) as d, Procs() as ps:
        p = start(d, ps, "producer", r, "push", "shared", 30)
        p.result()
        # 5 pops, then the one that ends the last message's processing takes a 6th.
        c1 = start(d, ps, "consumer", r, "pop", "shared", 5, 0)
        c1.result()
        d.wait_value(24, "message_bus_queue_depth", agent_type="consumer", queue="shared")
        # A second consumer that takes more than the first does not move the series.
        c2 = start(d, ps, "consumer2", r, "pop", "shared", 24, 0)
        eq(c2.result()["popped"], 24, "second consumer popped the rest")
        d.wait_value(24, "message_bus_messages_total", from_agent="producer", to_agent="consumer2",
                     message_type="list")
        eq(d.value("message_bus_queue_depth", agent_type="consumer", queue="shared"), 0, "depth")
        eq(d.value("message_bus_queue_depth", agent_type="consumer2", queue="shared"), None,
           "no second series")
        for a in (p, c1, c2):
            a.finish()


SCENARIOS = ["resp3-pubsub-then-commands", "unsubscribe-all-then-commands", "reset-after-multi",
             "reset-pipelined", "large-replies", "many-kinds-in-flight", "commands-and-counts", "sendmsg-buffers",
             "inline-commands", "collision", "subscribed-ping", "array-reply-then-subscribe",
             "long-transaction", "overflow-drains", "subscribe-refused", "punsubscribe-none",
             "publish-then-push", "transaction-past-the-queue"]


def test_protocol_corners_keep_the_pairing():
    """Raw RESP2/RESP3 clients: RESP3 confirmations as pushes, UNSUBSCRIBE of
    everything, RESET inside MULTI (also in the write of its queued commands
    and right after EXEC), replies and pipelines far larger than a
    read window, more kinds of commands in flight than followed, HEXISTS,
    LPOP with a count of 0, a sendmsg of several buffers, inline commands,
    two key names with the same 32-bit hash in the kernel, PING on a
    subscribed RESP2 connection, an array reply read after SUBSCRIBE
    was sent, a transaction of more runs than followed, commands sent while
    the replies of commands past the queue are still to come, a SUBSCRIBE
    refused with one error, a PUNSUBSCRIBE with no pattern to drop, a
    name published to and then pushed on one connection, and a transaction
    after one whose EXEC was past the queue."""
    with Redis() as r, Daemon(cfg(r, "corner")) as d, Procs() as ps:
        seen = {}
        for name in SCENARIOS:
            a = start(d, ps, "corner", r, "scenario", name)
            seen[name] = a.result()
            a.finish()
        eq(seen["resp3-pubsub-then-commands"], {"llen": 2}, "RESP3 client")
        eq(seen["unsubscribe-all-then-commands"], {"popped": 3}, "unsubscribed client")
        eq(seen["reset-after-multi"], {"pushed": 2, "popped": 2}, "RESET client")
        eq(seen["reset-pipelined"], {"replies": ["OK", "QUEUED", "RESET", "OK", "QUEUED", [3],
                                                 "OK", "QUEUED", [2], "RESET"], "popped": [3, 2]},
           "pipelined RESET client")
        eq(seen["large-replies"], {"len": 40, "hits": 40}, "large replies")
        eq(seen["many-kinds-in-flight"], {"len": 3, "popped": 3}, "overflowing pipeline")
        eq(seen["commands-and-counts"], {"replies": [1, 0, None, 0, 3]}, "HEXISTS, LPOP 0")
        eq(seen["sendmsg-buffers"], {"len": 1, "popped": 1}, "sendmsg client")
        eq(seen["collision"], {"popped": 1, "llen": 0}, "collision client")
        eq(seen["inline-commands"], {"pong": "PONG", "len": 2, "popped": 2}, "inline client")
        eq(seen["subscribed-ping"], {"pong": "pong", "popped": 2}, "subscribed PING client")
        eq(seen["array-reply-then-subscribe"], {"range": 3, "conf": "subscribe", "popped": 3},
           "array reply before the subscription")
        eq(seen["long-transaction"], {"results": 12, "popped": 6}, "long transaction")
        eq(seen["overflow-drains"], {"len": 2, "popped": 2}, "push behind the overflow")
        eq(seen["subscribe-refused"], {"error": "NOPERM", "popped": 2}, "refused SUBSCRIBE")
        eq(seen["punsubscribe-none"], {"none": [None, 1], "popped": 2}, "PUNSUBSCRIBE of nothing")
        eq(seen["publish-then-push"], {"len": 1, "popped": 1}, "channel, then list")
        eq(seen["transaction-past-the-queue"], {"results": [3], "popped": 3},
           "transaction after one past the queue")

        # Every delivery on its own queue: 1 + 3 + 2 + 3 + 1 + 1 + 2 + 2 + 3, 3 + 2
        # of the pipelined RESETs, then 6 + 2 + 2 + 2 + 1 + 3.
        d.wait_value(39, "message_bus_messages_total", from_agent="corner", to_agent="corner",
                     message_type="list")
        s = d.scrape()
        depth = lambda q: s.get("message_bus_queue_depth", agent_type="corner", queue=q)
        eq({q: depth(q) for q in ("r3q", "uq", "rq", "big", "kq", "lz", "sq", "rvtasks", "blxmacw", "iq",
                                  "pq", "aq", "zq", "zr", "tq", "oq", "fq", "nq", "pp", "vq")},
           {"r3q": 2, "uq": 0, "rq": 0, "big": 40, "kq": 0, "lz": 3, "sq": 0, "rvtasks": 5,
            "blxmacw": 0, "iq": 0, "pq": 0, "aq": 0, "zq": 0, "zr": 0,
            "tq": 0, "oq": 0, "fq": 0, "nq": 0, "pp": 0, "vq": 0},
           "queue depths")
        eq([k for k in s if k[0] == "message_bus_messages_total" and
            dict(k[1])["message_type"] == "pubsub"], [], "list data that looks like a push is not one")
        eq(depth("fakechan"), None, "no queue made up from list data")
        # 40 MGET values, the 15 GETs followed of each of the two overflowing
        # pipelines, HEXISTS h f.
        eq((s.get("cache_hits_total", cache_type="corner"), s.get("cache_misses_total", cache_type="corner")),
           (71, 1), "cache hits and misses")
        # 3 + 3 + 1 (an EXEC) commands past the queue, 4 + 22 past a
        # transaction's runs.
        eq(s.get("agentbpf_events_dropped_total", reason="bus_pipeline_full"), 33,
           "the commands past the queue are counted as not followed")
        eq(s.get("agentbpf_events_dropped_total", reason="bus_protocol_lost"), 0, "no connection lost")
