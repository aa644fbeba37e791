#!/usr/bin/env python3
"""Tributary benchmarks: throughput, latency and memory against ceilings measured in the
same run. Driven by bench/run.sh (see bench/README.md). Prints a markdown table and
writes JSON (bench/results/latest.json by default)."""

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.environ.get("TRIB_FIXTURES_DIR", "/work/shared/fixtures")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ processes

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process in its own process group, stopped (TERM, then KILL) on exit."""

    live = []

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                  start_new_session=True)
        Proc.live.append(self)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10):
        if self.p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()
        if self in Proc.live:
            Proc.live.remove(self)
        return self.p.returncode

    def tail(self, n=2000):
        with contextlib.suppress(OSError), open(self.log_path, "rb") as f:
            data = f.read()
            return data[-n:].decode(errors="replace")
        return ""

    @classmethod
    def stop_all(cls):
        for p in list(cls.live):
            p.stop(timeout=5)


def http_get(port, path, timeout=2.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.read()


def http_post(port, path, body=b"", timeout=60.0):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def wait_until(pred, timeout, what, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{what}: process exited early:\n{proc.tail()}")
        with contextlib.suppress(Exception):
            if pred():
                return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}" + (f":\n{proc.tail()}" if proc else ""))


def wait_tcp(port, timeout, proc=None):
    def ok():
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    wait_until(ok, timeout, f"port {port}", proc)


def proc_tree(pid):
    """pid and all its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(d))
    out, pending = [], [pid]
    while pending:
        p = pending.pop()
        out.append(p)
        pending.extend(children.get(p, []))
    return out


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime (all threads)
    return total / CLK_TCK


def rss_kb(pids):
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
    return total


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rollup_kb(pid, key):
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def machine_info():
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    commit = ""
    with contextlib.suppress(Exception):
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    nginx_version = ""
    with contextlib.suppress(Exception):
        nginx_version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_mb": mem, "kernel": os.uname().release,
            "git_commit": commit, "nginx": nginx_version}


# ------------------------------------------------------------------ servers under test

class Nginx:
    def __init__(self, kind, workdir):
        self.kind = kind
        self.port = free_port()
        self.prefix = os.path.join(workdir, f"nginx-{kind}")
        os.makedirs(self.prefix, exist_ok=True)
        self.store = os.path.join(self.prefix, "store")
        os.makedirs(os.path.join(self.store, ".tmp"), exist_ok=True)
        for d in (self.prefix, self.store, os.path.join(self.store, ".tmp")):
            os.chmod(d, 0o777)  # nginx workers run as an unprivileged user when started as root
        with open(os.path.join(REPO, "bench", "nginx", f"{kind}.conf")) as f:
            conf = f.read()
        conf = conf.replace("@PREFIX@", self.prefix).replace("@PORT@", str(self.port)).replace("@STORE@", self.store)
        self.conf = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = None

    def __enter__(self):
        self.proc = Proc(["nginx", "-c", self.conf, "-p", self.prefix], os.path.join(self.prefix, "stdout.log"))
        wait_tcp(self.port, 10, self.proc)
        return self

    def __exit__(self, *exc):
        self.proc.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)

    def pids(self):
        return proc_tree(self.proc.pid)


class Host:
    """The real host binary with the given conf.d files, file sink, a temp data dir."""

    def __init__(self, build, workdir, name, confd, env=None, tributary_conf="", plugins_dir=None):
        self.port = free_port()
        self.dir = os.path.join(workdir, f"host-{name}")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "etc", "conf.d"))
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data)
        self.config = os.path.join(self.dir, "etc", "tributary.conf")
        with open(self.config, "w") as f:
            f.write(tributary_conf)
        for fname, text in confd.items():
            with open(os.path.join(self.dir, "etc", "conf.d", fname), "w") as f:
                f.write(text)
        self.argv = [os.path.join(build, "bin", "tributary"), "--config", self.config, "--data-dir", self.data,
                     "--listen", f"127.0.0.1:{self.port}",
                     "--plugins-dir", plugins_dir or os.path.join(build, "plugins")]
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("ENV_"):
                del self.env[k]
        self.env.update(HOST_ENV)
        self.env.update(env or {})
        self.proc = None

    def __enter__(self):
        self.proc = Proc(self.argv, os.path.join(self.dir, "host.log"), env=self.env)
        wait_until(lambda: http_get(self.port, "/health")[0] == 200, 20, "host /health", self.proc)
        return self

    def __exit__(self, *exc):
        self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def pids(self):
        return [self.proc.pid]

    def lp_lines(self, category, measurement):
        path = os.path.join(self.data, "points", category, f"{measurement}.lp")
        if not os.path.exists(path):
            return 0
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())


def nats_stream_messages(port, stream):
    """Messages held by a JetStream stream, asked over the NATS text protocol."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        f = sock.makefile("rb")
        f.readline()  # INFO
        sock.sendall(b'CONNECT {"verbose":false,"headers":true,"protocol":1}\r\nSUB _INBOX.bench 1\r\n'
                     + f"PUB $JS.API.STREAM.INFO.{stream} _INBOX.bench 0\r\n\r\n".encode())
        while True:
            line = f.readline()
            if not line:
                return None
            if line.startswith(b"PING"):
                sock.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG"):
                n = int(line.split()[-1])
                data = f.read(n + 2)[:n]
                return json.loads(data).get("state", {}).get("messages")


# ------------------------------------------------------------------ load

def run_http_load(tools, port, method, path, body, headers, conns, duration, warmup, label, threads, chunked=False):
    argv = [os.path.join(tools, "trib_bench_http"), "--port", str(port), "--method", method, "--path", path,
            "--body", body, "--connections", str(conns), "--threads", str(threads), "--duration", str(duration),
            "--warmup", str(warmup), "--label", label]
    for h in headers:
        argv += ["--header", h]
    if chunked:
        argv.append("--chunked")
    t0, c0 = time.time(), os.times()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=duration + warmup + 60)
    c1 = os.times()
    if r.returncode != 0:
        raise RuntimeError(f"load generator failed ({label}): {r.stderr.strip()}")
    res = json.loads(r.stdout)
    client_cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    res["client_cpu_pct"] = round(100.0 * client_cpu / max(1e-9, time.time() - t0), 1)
    return res


HOST_ENV = {}  # --host-env: extra environment for every host started
# The recorded uploads carry their recording's timestamps: a long max_age keeps retention
# from removing them mid-run.
VIEWER_SINKS = ('[[sinks]]\n  name = "file"\n  type = "file"\n'
                '[[sinks]]\n  name = "viewer"\n  type = "viewer"\n  categories = ["profiling", "tracing"]\n'
                '  max_age_hours = 1000000\n')

PERF_DIR = None  # set by --perf: host runs are recorded with perf, reports written here


def perf_report_path(label):
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)
    return os.path.join(PERF_DIR, f"perf-{safe}")


def measured(pids_fn, fn, perf_label=None):
    """Runs fn() and returns its result plus server_cpu_pct: the CPU the server processes
    used meanwhile, in % of one core. With --perf and a perf_label, the first server process
    is sampled with perf meanwhile and a flat report is written next to the results."""
    pids = pids_fn()
    perf = None
    if PERF_DIR and perf_label and shutil.which("perf"):
        data = perf_report_path(perf_label) + ".data"
        perf = subprocess.Popen(["perf", "record", "-F", "499", "-g", "-p", str(pids[0]), "-o", data],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    c0 = cpu_seconds(pids)
    t0 = time.time()
    try:
        res = fn()
    finally:
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
    if perf:
        rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "0.8",
                              "-g", "none", "--sort", "dso,symbol"], capture_output=True, text=True)
        with open(perf_report_path(perf_label) + ".txt", "w") as out:
            for line in rep.stdout.splitlines():
                line = line.rstrip().rstrip("-").rstrip()
                if line and not line.startswith("#"):
                    out.write(line[:220] + "\n")
        os.unlink(data)
    pids = pids_fn()
    c1 = cpu_seconds(pids)
    res["server_cpu_pct"] = round(100.0 * (c1 - c0) / max(1e-9, time.time() - t0), 1)
    return res


def thread_cpu_seconds(pid):
    """utime+stime of each thread of pid, summed by thread name."""
    out = {}
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    st = f.read()
                name = st[st.index("(") + 1:st.rindex(")")]
                fields = st[st.rindex(")") + 2:].split()
                out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def send_uploads(port, method, path, body, headers, n, conns=4):
    """n requests over `conns` keep-alive connections; returns how many were not 2xx."""
    import http.client
    hdrs = dict(line.split(": ", 1) for line in headers)
    left, bad, lock = [n], [0], threading.Lock()

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                c.request(method, path, body=body, headers=hdrs)
                r = c.getresponse()
                r.read()
                if not 200 <= r.status < 300:
                    with lock:
                        bad[0] += 1
        finally:
            c.close()
    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return bad[0]


def viewer_profiles_indexed(port):
    st, data = http_get(port, "/api/v1/services")
    return sum(x.get("profiles", 0) for x in json.loads(data)["services"]) if st == 200 else 0


def viewer_profiles_summarized(port):
    text = http_get(port, "/metrics")[1].decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("tributary_module_viewer_profiles_summarized"))


def recorded_headers(request_json, drop=("host", "content-length", "transfer-encoding", "connection")):
    with open(request_json) as f:
        req = json.load(f)
    return [f"{k}: {v}" for k, v in req["headers"] if k.lower() not in drop], req


# ------------------------------------------------------------------ sections

class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.build = os.path.abspath(args.build_dir)
        self.tools = os.path.join(self.build, "bench", "bin")
        self.work = tempfile.mkdtemp(prefix="trib-bench-", dir=args.work_dir)
        os.chmod(self.work, 0o755)  # nginx workers (an unprivileged user) must reach their dirs
        self.data = os.path.join(self.work, "data")
        os.makedirs(self.data)
        self.duration = args.duration or (3.0 if self.quick else 12.0)
        self.warmup = 0.5 if self.quick else 2.0
        self.conns = args.connections
        self.client_threads = args.client_threads
        self.results = {"quick": self.quick, "started": datetime.datetime.now().astimezone().isoformat(),
                        "machine": machine_info(), "load_before": loadavg(), "sections": {}, "skipped": {}}
        self.load_samples = []
        self._stop_load = threading.Event()
        self._load_thread = threading.Thread(target=self._sample_load, daemon=True)
        self._load_thread.start()

    def _sample_load(self):
        while not self._stop_load.wait(5):
            self.load_samples.append(loadavg()[0])

    def host_available(self):
        return os.path.exists(os.path.join(self.build, "bin", "tributary"))

    def plugin_available(self, name):
        return os.path.exists(os.path.join(self.build, "plugins", f"{name}.so"))

    def skip(self, section, why):
        log(f"skip {section}: {why}")
        self.results["skipped"][section] = why

    # --- inputs for the ingest benchmarks
    def prepare(self):
        r = subprocess.run([os.path.join(self.tools, "trib_bench_make_upload"), "--fixtures", FIXTURES,
                            "--out", self.data], capture_output=True, text=True, check=True)
        self.results["large_upload"] = json.loads(r.stdout)

    def ingest_matrix(self, section, bodies, host_variants):
        """bodies: [(name, file, method, path, headers)] for the host; the nginx runs get the
        same body and headers (discard: same method and path; store: PUT /store/<n>)."""
        rows = []
        d, w, c, t = self.duration, self.warmup, self.conns, self.client_threads
        for bname, bfile, method, path, headers in bodies:
            for kind, m, p in (("discard", method, path), ("store", "PUT", "/store/%d")):
                # A run where connections mostly failed (e.g. another process took the free
                # port between our probe and nginx's bind) is repeated once on a new port.
                for attempt in range(2):
                    with Nginx(kind, self.work) as ng:
                        res = measured(ng.pids, lambda: run_http_load(self.tools, ng.port, m, p, bfile, headers, c,
                                                                      d, w, f"{section}/{bname}/nginx-{kind}", t))
                        res["nginx_alive"] = ng.proc.alive()
                    if res["ok"] > 0 and res["errors"] <= res["ok"] // 100:
                        break
                    log(f"nginx-{kind}: {res['errors']} connection errors, {res['ok']} ok: repeating the run")
                rows.append(dict(body=bname, target=f"nginx-{kind}", **res))
            for variant in host_variants:
                # (name, conf.d files, category, measurement[, tributary.conf[, connections]])
                vname, confd, category, measurement = variant[:4]
                vconns = variant[5] if len(variant) > 5 else c
                if not self.host_available():
                    continue
                with Host(self.build, self.work, f"{section}-{vname}", confd,
                          tributary_conf=variant[4] if len(variant) > 4 else "") as h:
                    res = measured(h.pids, lambda: run_http_load(self.tools, h.port, method, path, bfile, headers,
                                                                 vconns, d, w, f"{section}/{bname}/{vname}", t),
                                   perf_label=f"{section}-{bname.split(' (')[0]}-{vname}")
                    # Every acknowledged upload must reach the file sink: count the lines.
                    acked = sum(v for k, v in res["status"].items() if 200 <= int(k) < 300)
                    with contextlib.suppress(RuntimeError):
                        wait_until(lambda: h.lp_lines(category, measurement) >= acked, 30, "file sink catch-up")
                    res["acknowledged_total"] = acked
                    res["stored_points"] = h.lp_lines(category, measurement)
                    res["rss_mb_after"] = round(rss_kb(h.pids()) / 1024, 1)
                    rows.append(dict(body=bname, target=vname, **res))
            for r in rows:
                if r["body"] != bname:
                    continue
                for ceiling in ("nginx-store", "nginx-discard"):
                    base = next(x for x in rows if x["body"] == bname and x["target"] == ceiling)
                    if base["uploads_per_s"] > 0:
                        r[f"ratio_{ceiling.replace('-', '_')}"] = round(r["uploads_per_s"] / base["uploads_per_s"], 3)
        return rows

    def profile_ingest(self):
        if not self.host_available() or not self.plugin_available("profile"):
            self.skip("profile_ingest", "host or profile module not built: nginx ceilings only")
        hdrs, _ = recorded_headers(os.path.join(FIXTURES, "ddtrace-nodejs", "profiling-input.request.json"))
        bodies = [
            ("dd-trace recorded (16.9 KB)", os.path.join(FIXTURES, "ddtrace-nodejs", "profiling-input.body.multipart"),
             "POST", "/profiling/v1/input", hdrs),
            (f"dd-trace 100 KB-class ({os.path.getsize(os.path.join(self.data, 'ddtrace-large.multipart')) // 1024} KB)",
             os.path.join(self.data, "ddtrace-large.multipart"), "POST", "/profiling/v1/input", hdrs),
        ]
        variants = []
        for gm in ("false", "true"):
            variants.append((f"host (generate_metrics={gm})",
                             {"profile.conf": f'[[inputs.profile]]\n  endpoints = ["/profiling/v1/input"]\n'
                                              f'  body_size_limit_mb = 32\n  generate_metrics = {gm}\n'},
                             "profiling", "profile"))
        # Every keep-alive client served at once (issue 12): 1,000 connections on the same load.
        variants.append(("host, 1,000 connections (generate_metrics=false)", variants[0][1], "profiling", "profile",
                         "", 1000))
        if self.plugin_available("viewer"):
            # Indexing cost: the same load with the viewer sink beside the file sink.
            variants.append(("host + viewer (generate_metrics=false)", variants[0][1], "profiling", "profile",
                             VIEWER_SINKS))
        self.results["sections"]["profile_ingest"] = self.ingest_matrix("profile", bodies, variants)
        if self.host_available() and self.plugin_available("viewer"):
            self.results["sections"]["viewer_cpu"] = self.viewer_cpu_per_upload(bodies, variants[0][1])

    def viewer_ab(self):
        """Viewer on vs off as uploads/s, interleaved: pairs of saturating runs, each on a
        fresh host, the order swapped every pair (so drift of the machine falls on both
        sides); the median of each side and of the per-pair ratios."""
        if not self.host_available() or not self.plugin_available("viewer") or not self.plugin_available("profile"):
            self.skip("viewer_ab", "host, profile or viewer module not built")
            return
        hdrs, _ = recorded_headers(os.path.join(FIXTURES, "ddtrace-nodejs", "profiling-input.request.json"))
        bodies = [
            ("dd-trace recorded (16.9 KB)", os.path.join(FIXTURES, "ddtrace-nodejs", "profiling-input.body.multipart")),
            (f"dd-trace 100 KB-class ({os.path.getsize(os.path.join(self.data, 'ddtrace-large.multipart')) // 1024} KB)",
             os.path.join(self.data, "ddtrace-large.multipart")),
        ]
        confd = {"profile.conf": '[[inputs.profile]]\n  endpoints = ["/profiling/v1/input"]\n'
                                 '  body_size_limit_mb = 32\n  generate_metrics = false\n'}
        sides = (("off", '[[sinks]]\n  name = "file"\n  type = "file"\n'), ("on", VIEWER_SINKS))
        pairs = 3 if self.quick else self.args.ab_pairs
        rows = []
        for bname, bfile in bodies:
            runs = {"off": [], "on": []}
            ratios = []
            for i in range(pairs):
                got = {}
                for side, conf in (sides if i % 2 == 0 else sides[::-1]):
                    with Host(self.build, self.work, f"viewer-ab-{side}", confd, tributary_conf=conf) as h:
                        res = run_http_load(self.tools, h.port, "POST", "/profiling/v1/input", bfile, hdrs, self.conns,
                                            self.duration, self.warmup, f"viewer_ab/{bname}/{side}/{i}",
                                            self.client_threads)
                    got[side] = res["uploads_per_s"]
                    runs[side].append(res["uploads_per_s"])
                ratios.append(got["on"] / max(1e-9, got["off"]))
            rows.append(dict(body=bname, pairs=pairs, off=runs["off"], on=runs["on"], ratios=[round(r, 3) for r in ratios],
                             median_off=statistics.median(runs["off"]), median_on=statistics.median(runs["on"]),
                             median_ratio=round(statistics.median(ratios), 3)))
        self.results["sections"]["viewer_ab"] = rows

    def viewer_cpu_per_upload(self, bodies, confd):
        """The viewer's cost as host CPU per upload, robust on a shared machine (uploads/s
        are not): the same fixed number of uploads, 4 connections, viewer off and on; host
        utime+stime per upload once every upload is stored (and indexed), then again once the
        summarizer (a SCHED_IDLE thread named viewer-summary) has decoded them all."""
        rows = []
        # The host's own cost of one more module sink (the bus hands each batch to one more
        # sink thread, as an ABI view): the same load with bench_null_sink, which drops points.
        variants = [("host", "", None)]
        null_so = os.path.join(self.build, "bench", "plugins", "bench_null_sink.so")
        if os.path.exists(null_so):
            both = os.path.join(self.work, "plugins-with-null-sink")
            os.makedirs(both, exist_ok=True)
            for so in [null_so] + [os.path.join(self.build, "plugins", f) for f in os.listdir(
                    os.path.join(self.build, "plugins")) if f.endswith(".so")]:
                with contextlib.suppress(FileExistsError):
                    os.symlink(so, os.path.join(both, os.path.basename(so)))
            variants.append(("host + null module sink", '[[sinks]]\n  name = "file"\n  type = "file"\n'
                             '[[sinks]]\n  name = "null"\n  type = "bench_null_sink"\n', both))
        variants.append(("host + viewer", VIEWER_SINKS, None))
        for bname, bfile, method, path, headers in bodies:
            with open(bfile, "rb") as f:
                body = f.read()
            n = 400 if self.quick else (2000 if len(body) < 50_000 else 800)
            for vname, conf, plugins in variants:
                with Host(self.build, self.work, f"viewer-cpu-{vname}", confd, tributary_conf=conf,
                          plugins_dir=plugins) as h:
                    send_uploads(h.port, method, path, body, headers, 20)  # warm: first-use allocations
                    wait_until(lambda: h.lp_lines("profiling", "profile") >= 20, 30, "warm-up stored")
                    pid = h.proc.pid
                    c0, t0 = cpu_seconds([pid]), thread_cpu_seconds(pid)
                    non2xx = send_uploads(h.port, method, path, body, headers, n)
                    wait_until(lambda: h.lp_lines("profiling", "profile") >= n + 20, 60, "file sink catch-up")
                    viewer = "viewer" in vname
                    if viewer:
                        wait_until(lambda: viewer_profiles_indexed(h.port) >= n + 20, 60, "viewer indexing")
                    c1, t1 = cpu_seconds([pid]), thread_cpu_seconds(pid)
                    row = dict(body=bname, target=vname, uploads=n, non2xx=non2xx,
                               ingest_cpu_ms_per_upload=round(1000 * (c1 - c0) / n, 3),
                               ingest_threads_cpu_ms_per_upload=round(
                                   1000 * sum(v - t0.get(k, 0) for k, v in t1.items() if k != "viewer-summary") / n, 3))
                    if viewer:
                        waited = time.time()
                        with contextlib.suppress(RuntimeError):
                            wait_until(lambda: viewer_profiles_summarized(h.port) >= n + 20, 240, "viewer summaries")
                        time.sleep(1.0)  # the last group's commit
                        c2, t2 = cpu_seconds([pid]), thread_cpu_seconds(pid)
                        row.update(summarized=int(viewer_profiles_summarized(h.port)) - 20,
                                   summaries_s=round(time.time() - waited, 1),
                                   total_cpu_ms_per_upload=round(1000 * (c2 - c0) / n, 3),
                                   summarizer_cpu_ms_per_upload=round(
                                       1000 * (t2.get("viewer-summary", 0) - t0.get("viewer-summary", 0)) / n, 3))
                    rows.append(row)
            off = rows[-len(variants)]
            for on in rows[-len(variants) + 1:]:
                base = off["ingest_cpu_ms_per_upload"]
                on["ingest_ratio_off"] = round(on["ingest_cpu_ms_per_upload"] / max(1e-9, base), 3)
                on["threads_ratio_off"] = round(on["ingest_threads_cpu_ms_per_upload"] /
                                                max(1e-9, off["ingest_threads_cpu_ms_per_upload"]), 3)
                if "total_cpu_ms_per_upload" in on:
                    on["total_ratio_off"] = round(on["total_cpu_ms_per_upload"] / max(1e-9, base), 3)
        return rows

    def nats(self):
        """Uploads/s through the host with the nats sink (JetStream acks awaited, a local
        nats-server -js) against the same host with the file sink; target >= 0.8x."""
        server = shutil.which("nats-server") or ("/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None)
        if not self.host_available() or not self.plugin_available("profile") or not self.plugin_available("nats_sink"):
            self.skip("nats", "host, profile or nats_sink module not built")
            return
        if not server:
            self.skip("nats", "nats-server is not installed")
            return
        hdrs, _ = recorded_headers(os.path.join(FIXTURES, "ddtrace-nodejs", "profiling-input.request.json"))
        bodies = [("dd-trace recorded (16.9 KB)",
                   os.path.join(FIXTURES, "ddtrace-nodejs", "profiling-input.body.multipart")),
                  (f"dd-trace 100 KB-class ({os.path.getsize(os.path.join(self.data, 'ddtrace-large.multipart')) // 1024} KB)",
                   os.path.join(self.data, "ddtrace-large.multipart"))]
        conf = {"profile.conf": '[[inputs.profile]]\n  endpoints = ["/profiling/v1/input"]\n  body_size_limit_mb = 32\n'}
        rows = []
        d, w, c, t = self.duration, self.warmup, self.conns, self.client_threads
        for bname, bfile in bodies:
            port = free_port()
            store = os.path.join(self.work, f"nats-store-{port}")
            ns = Proc([server, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store], store + ".log")
            try:
                wait_tcp(port, 10, ns)
                def nats_table(i):
                    return ('[[sinks]]\n  name = "jetstream"\n  type = "nats"\n'
                            f'  urls = ["nats://127.0.0.1:{port}"]\n  create_stream = true\n  max_age = "1h"\n'
                            f'  stream = "BENCH{i}"\n  subject_prefix = "bench{i}"\n')
                # Without a spool one batch (one upload) at a time waits for its acks; with
                # one, its workers publish several batches side by side.
                sinks = {"file sink": "",
                         "nats sink": nats_table(1),
                         "nats sink + spool (4 workers)": nats_table(2) + "  [sinks.spool]\n    workers = 4\n"}
                for target, tconf in sinks.items():
                    with Host(self.build, self.work, f"nats-{len(rows)}", conf, tributary_conf=tconf) as h:
                        res = measured(lambda: h.pids() + (proc_tree(ns.pid) if target != "file sink" else []),
                                       lambda: run_http_load(self.tools, h.port, "POST", "/profiling/v1/input", bfile,
                                                             hdrs, c, d, w, f"nats/{bname}/{target}", t))
                        t_load_end = time.time()
                        acked = sum(v for k, v in res["status"].items() if 200 <= int(k) < 300)
                        res["acknowledged_total"] = acked
                        # 2xx means accepted into the bus: the sink may still be behind. The
                        # rate that counts is uploads over the time until the sink holds them.
                        if target == "file sink":
                            with contextlib.suppress(RuntimeError):
                                wait_until(lambda: h.lp_lines("profiling", "profile") >= acked, 120, "file sink catch-up")
                            res["stored"] = h.lp_lines("profiling", "profile")
                            t_caught_up = time.time()
                        else:
                            # Messages in the stream: per upload its attachments and its point
                            # (profiling_metrics points share grouped messages); caught up at
                            # the last change of the count (stable for 2 s after it).
                            last, t_caught_up = -1, t_load_end
                            while time.time() - t_caught_up < 2.0 and time.time() - t_load_end < 120:
                                n = nats_stream_messages(port, "BENCH1" if target == "nats sink" else "BENCH2")
                                if n != last:
                                    last, t_caught_up = n, time.time()
                                time.sleep(0.2)
                            res["stream_messages"] = last
                        res["catch_up_s"] = round(max(0.0, t_caught_up - t_load_end), 2)
                        # The answered rate stretched over the run plus the sink's catch-up.
                        res["drained_uploads_per_s"] = round(res["uploads_per_s"] * d / (d + res["catch_up_s"]), 1)
                        rows.append(dict(body=bname, target=target, **res))
            finally:
                ns.stop()
                shutil.rmtree(store, ignore_errors=True)
            base = next(r for r in rows if r["body"] == bname and r["target"] == "file sink")
            for r in rows:
                if r["body"] == bname and base["drained_uploads_per_s"] > 0:
                    r["ratio_file_sink"] = round(r["drained_uploads_per_s"] / base["drained_uploads_per_s"], 3)
        self.results["sections"]["nats"] = rows

    def viewer(self):
        """A flame graph over one service's 360 uploads of the 100 KB-class profile (an hour
        of 10 s uploads): once the summarizer has decoded them, after a restart (summaries and
        stack dictionary read back from disk), and, for scale, with a span filter (which
        decodes every upload's files, as every query did before summaries)."""
        if not self.host_available() or not self.plugin_available("viewer") or not self.plugin_available("profile"):
            self.skip("viewer", "host, profile or viewer module not built")
            return
        hdrs, _ = recorded_headers(os.path.join(FIXTURES, "ddtrace-nodejs", "profiling-input.request.json"))
        with open(os.path.join(self.data, "ddtrace-large.multipart"), "rb") as f:
            body = f.read()
        conf = {"profile.conf": '[[inputs.profile]]\n  endpoints = ["/profiling/v1/input"]\n  body_size_limit_mb = 32\n'}
        self.results["sections"]["viewer"] = self.viewer_once(conf, hdrs, body, 360)

    def viewer_once(self, conf, hdrs, body, uploads):
        with Host(self.build, self.work, "viewer", conf, tributary_conf=VIEWER_SINKS) as h:
            for _ in range(uploads):
                req = urllib.request.Request(f"http://127.0.0.1:{h.port}/profiling/v1/input", data=body, method="POST")
                for line in hdrs:
                    k, v = line.split(": ", 1)
                    req.add_header(k, v)
                with urllib.request.urlopen(req, timeout=60) as r:
                    r.read()
            uploaded = time.time()

            def services():
                return json.loads(http_get(h.port, "/api/v1/services")[1])["services"]

            def summarized():
                return viewer_profiles_summarized(h.port)
            wait_until(lambda: viewer_profiles_indexed(h.port) >= uploads, 60, "viewer indexing")
            # The summarizer (lowest CPU priority) decodes each upload once after it arrived; on
            # a machine busy with other work it may not finish: the first query then
            # summarizes the rest itself (part of its time).
            with contextlib.suppress(RuntimeError):
                wait_until(lambda: summarized() >= uploads, 240, "viewer summaries")
            summarize_s = round(time.time() - uploaded, 1)
            summarized_before = int(summarized())
            svc = services()[0]
            types = [t for t in ("wall", "cpu") if t in svc["types"]]

            def measure(phase, extra=""):
                out = []
                for ptype in types:
                    path = f"/api/v1/flamegraph?service={urllib.parse.quote(svc['service'])}&type={ptype}&from=0{extra}"
                    times, size, merged = [], 0, 0
                    for _ in range(5):
                        t0 = time.perf_counter()
                        st, data = http_get(h.port, path, timeout=300)
                        times.append((time.perf_counter() - t0) * 1000)
                        size, merged = len(data), json.loads(data)["profiles"]
                    out.append(dict(type=ptype, phase=phase, profiles=merged, upload_kb=len(body) // 1024,
                                    first_ms=round(times[0], 1), median_ms=round(sorted(times)[len(times) // 2], 1),
                                    answer_kb=size // 1024, summarize_s=summarize_s,
                                    summarized_before=summarized_before))
                return out
            rows = measure("summaries, same process")
            # A fresh process over the same data dir: nothing of the viewer in memory.
            h.proc.stop()
            h.proc = Proc(h.argv, os.path.join(h.dir, "host-restarted.log"), env=h.env)
            wait_until(lambda: http_get(h.port, "/health")[0] == 200, 20, "host /health", h.proc)
            rows += measure("summaries, after restart")
            # A span filter cannot use summaries: every upload's files are read and decoded.
            rows += measure("decode every upload (span filter)", "&span_id=0")
        return rows

    def pyroscope_ingest(self):
        host_ok = self.host_available() and self.plugin_available("pyroscope")
        if not host_ok:
            self.skip("pyroscope_ingest", "host or pyroscope module not built: nginx ceilings only")
        hdrs, req = recorded_headers(os.path.join(FIXTURES, "pyroscope-nodejs", "ingest-wall.request.json"))
        path = "/ingest?" + req["query_raw"]
        bodies = [
            ("pyroscope recorded (1.6 KB)", os.path.join(FIXTURES, "pyroscope-nodejs", "ingest-wall.body.pprof.gz"),
             "POST", path, hdrs),
            (f"pyroscope 100 KB-class ({os.path.getsize(os.path.join(self.data, 'wall-large.pprof.gz')) // 1024} KB)",
             os.path.join(self.data, "wall-large.pprof.gz"), "POST", path, hdrs),
        ]
        variants = [("host", {"pyroscope.conf": '[[inputs.pyroscope]]\n  endpoints = ["/ingest"]\n'},
                     "profiling", "profile")] if host_ok else []
        self.results["sections"]["pyroscope_ingest"] = self.ingest_matrix("pyroscope", bodies, variants)

    def pyroscope_sink(self):
        """dd-trace uploads into host A (profile input, file + pyroscope sinks) forwarded to host
        B (our pyroscope input as the Pyroscope stand-in): uploads/s A acknowledged, and how
        fast B received them, with relabelling inside the pprof off (sample_labels = "keep", no
        rules) and on (the sink's span_id rewrite + a [[sinks.relabel]] pprof rule)."""
        if not self.host_available() or not all(self.plugin_available(m) for m in ("profile", "pyroscope", "pyroscope_sink")):
            self.skip("pyroscope_sink", "host, profile, pyroscope or pyroscope_sink module not built")
            return
        hdrs, _ = recorded_headers(os.path.join(FIXTURES, "ddtrace-nodejs", "profiling-input.request.json"))
        bodies = [("dd-trace recorded (16.9 KB)", os.path.join(FIXTURES, "ddtrace-nodejs", "profiling-input.body.multipart")),
                  (f"dd-trace 100 KB-class ({os.path.getsize(os.path.join(self.data, 'ddtrace-large.multipart')) // 1024} KB)",
                   os.path.join(self.data, "ddtrace-large.multipart"))]
        relabel_on = ('  sample_labels = "pyroscope"\n'
                      '  [[sinks.relabel]]\n    scope = "pprof"\n    action = "rename"\n'
                      '    source_labels = ["span id"]\n    target_label = "dd_span_id"\n    value_format = "hex16"\n'
                      '  [[sinks.relabel]]\n    scope = "pprof"\n    action = "labeldrop"\n    regex = "thread .*"\n')
        variants = [("relabel inside pprof off", '  sample_labels = "keep"\n'), ("relabel inside pprof on", relabel_on)]
        rows = []
        d, w, c, t = self.duration, self.warmup, self.conns, self.client_threads
        profile_conf = {"profile.conf": '[[inputs.profile]]\n  endpoints = ["/profiling/v1/input"]\n  generate_metrics = false\n'}
        receiver_conf = {"pyroscope.conf": '[[inputs.pyroscope]]\n  endpoints = ["/ingest"]\n  generate_metrics = false\n'}
        for bname, bfile in bodies:
            for vname, sink_extra in variants:
                with Host(self.build, self.work, "pyro-receiver", receiver_conf) as rb:
                    conf = ('[[sinks]]\n  type = "file"\n[[sinks]]\n  type = "pyroscope"\n'
                            f'  url = "http://127.0.0.1:{rb.port}"\n  categories = ["profiling"]\n'
                            '  measurements = ["profile"]\n' + sink_extra)
                    with Host(self.build, self.work, "pyro-forwarder", profile_conf, tributary_conf=conf) as ha:
                        t0 = time.time()
                        res = measured(lambda: ha.pids() + rb.pids(),
                                       lambda: run_http_load(self.tools, ha.port, "POST", "/profiling/v1/input", bfile, hdrs,
                                                             c, d, w, f"pyroscope_sink/{bname}/{vname}", t))
                        acked = sum(v for k, v in res["status"].items() if 200 <= int(k) < 300)
                        with contextlib.suppress(RuntimeError):
                            wait_until(lambda: ha.lp_lines("profiling", "profile") >= acked, 60, "file sink catch-up")
                        stored = ha.lp_lines("profiling", "profile")
                        # Each dd-trace upload carries 3 pprofs (wall, space, events): 3 series at B.
                        with contextlib.suppress(RuntimeError):
                            wait_until(lambda: rb.lp_lines("profiling", "profile") >= 3 * stored, 120, "receiver catch-up")
                        elapsed = time.time() - t0
                        received = rb.lp_lines("profiling", "profile")
                        rows.append(dict(body=bname, target=vname, uploads_per_s=res["uploads_per_s"],
                                         server_cpu_pct=res["server_cpu_pct"], acknowledged=acked, stored=stored,
                                         received_series=received,
                                         forwarded_uploads_per_s=round(received / 3 / elapsed, 1) if elapsed > 0 else 0,
                                         status=res["status"]))
            off = next((r for r in rows if r["body"] == bname and r["target"] == variants[0][0]), None)
            for r in rows:
                if r["body"] == bname and off and off["forwarded_uploads_per_s"] > 0:
                    r["ratio_off"] = round(r["forwarded_uploads_per_s"] / off["forwarded_uploads_per_s"], 3)
        self.results["sections"]["pyroscope_sink"] = rows

    def pinpoint(self):
        client = os.path.join(self.tools, "trib_bench_pinpoint_client")
        if not os.path.exists(client):
            self.skip("pinpoint", "pinpoint benchmark tools not built (plugins/pinpoint/proto missing)")
            return
        bins = os.path.join(FIXTURES, "pinpoint-nodejs", "bin")
        streams = self.args.streams
        rows = []

        def drive(port, label):
            r = subprocess.run([client, "--target", f"127.0.0.1:{port}", "--fixtures-bin", bins, "--streams",
                                str(streams), "--duration", str(self.duration), "--label", label],
                               capture_output=True, text=True, timeout=self.duration + 90)
            if not r.stdout.strip():
                raise RuntimeError(f"pinpoint client failed ({label}): {r.stderr.strip()}")
            return json.loads(r.stdout)

        port = free_port()
        bare = Proc([os.path.join(self.tools, "trib_bench_pinpoint_bare"), "--address", f"127.0.0.1:{port}"],
                    os.path.join(self.work, "pinpoint-bare.log"))
        def cpu_us_per_msg(res, cpu_before, pids):
            # Server CPU-seconds per acknowledged message: robust to a loaded machine.
            if res.get("acknowledged"):
                res["cpu_us_per_msg"] = round(1e6 * (cpu_seconds(pids) - cpu_before) / res["acknowledged"], 2)

        try:
            wait_tcp(port, 10, bare)
            c0 = cpu_seconds([bare.pid])
            rows.append(dict(target="bare gRPC server (parse only)",
                             **measured(lambda: [bare.pid], lambda: drive(port, "pinpoint/bare"))))
            cpu_us_per_msg(rows[-1], c0, [bare.pid])
        finally:
            bare.stop()
        if self.host_available() and self.plugin_available("pinpoint"):
            gport = free_port()
            conf = {"pinpoint.conf": f'[[inputs.pinpoint]]\n  address = "127.0.0.1:{gport}"\n'}
            with Host(self.build, self.work, "pinpoint", conf) as h:
                wait_tcp(gport, 10, h.proc)
                c0 = cpu_seconds(h.pids())
                res = measured(h.pids, lambda: drive(gport, "pinpoint/host"), perf_label="pinpoint-host")
                # Spans wait in the assembler for the rest of their trace: wait until the
                # file sink stops growing (2 s without a new line, 60 s at most).
                last, stable_since, deadline = -1, time.time(), time.time() + 60
                while time.time() < deadline and time.time() - stable_since < 2:
                    n = h.lp_lines("tracing", "pinpointV2")
                    if n != last:
                        last, stable_since = n, time.time()
                    time.sleep(0.25)
                res["stored_points"] = last
                cpu_us_per_msg(res, c0, h.pids())  # to the last stored point
                res["rss_mb_after"] = round(rss_kb(h.pids()) / 1024, 1)
                rows.append(dict(target="host (pinpoint input, file sink)", **res))
                if rows[0]["spans_per_s"] > 0:
                    rows[-1]["ratio_bare"] = round(res["spans_per_s"] / rows[0]["spans_per_s"], 3)
        else:
            self.skip("pinpoint_host", "host or pinpoint module not built: bare server only")
        self.results["sections"]["pinpoint"] = rows

    def decode(self):
        secs = "0.3" if self.quick else "1"
        argv = [os.path.join(self.tools, "trib_bench_decode"), "--seconds", secs,
                "--pprof", os.path.join(self.data, "wall-large.pprof.gz"),
                "--pprof", os.path.join(FIXTURES, "ddtrace-nodejs", "part-wall.pprof.gz"),
                "--pprof", os.path.join(FIXTURES, "go-pprof", "heap.pb.gz"),
                "--upload", os.path.join(self.data, "ddtrace-large.multipart"), "1a8de2bbf9e4d199"]
        plugins = os.path.join(self.build, "plugins")
        if all(os.path.exists(os.path.join(plugins, m + ".so")) for m in ("profile", "pyroscope")):
            # CPU per upload of the two modules in an in-memory host (no HTTP, no bus).
            argv += ["--modules", plugins, os.path.join(self.data, "wall-large.pprof.gz")]
        r = subprocess.run(argv, capture_output=True, text=True, check=True)
        rows = json.loads(r.stdout)
        self.results["sections"]["ingest_cpu"] = [x for x in rows if x["step"] == "ingest_cpu"]
        self.results["sections"]["ingest_cpu_loadavg"] = os.getloadavg()
        rows = [x for x in rows if x["step"] != "ingest_cpu"]
        base = {x["input"]: x["mb_per_cpu_s"] for x in rows if x["step"] == "protobuf_parse"}
        for x in rows:
            if x["input"] in base and base[x["input"]] > 0:
                x["ratio_protobuf"] = round(x["mb_per_cpu_s"] / base[x["input"]], 3)
        self.results["sections"]["decode"] = rows

    def bus(self):
        plugins = os.path.join(self.build, "bench", "plugins")
        if not self.host_available() or not os.path.exists(os.path.join(plugins, "bench_emitter.so")):
            self.skip("bus", "host or bench modules not built")
            return
        seconds = 2 if self.quick else 5
        rows = []
        conf = {"emitter.conf": "[[inputs.bench_emitter]]\n"}
        sinks = '[[sinks]]\n  name = "null"\n  type = "bench_null_sink"\n'
        with Host(self.build, self.work, "bus", conf, tributary_conf=sinks, plugins_dir=plugins) as h:
            for threads, batch in ((1, 1), (1, 100), (2, 100)):
                before = self._sink_points(h.port)
                t0 = time.time()
                st, body = http_post(h.port, f"/bench/emit?seconds={seconds}&batch={batch}&threads={threads}",
                                     timeout=seconds + 60)
                res = json.loads(body)
                wait_until(lambda: self._sink_points(h.port) - before >= res["points"], 60, "null sink catch-up",
                           h.proc)
                elapsed = time.time() - t0
                rows.append({"threads": threads, "batch": batch, "points": res["points"],
                             "backpressure": res["backpressure"], "seconds": round(elapsed, 3),
                             "points_per_s": round(res["points"] / elapsed, 1)})
        self.results["sections"]["bus"] = rows

    @staticmethod
    def _sink_points(port):
        _, text = http_get(port, "/metrics")
        total = 0.0
        for line in text.decode().splitlines():
            if line.startswith("tributary_module_points{") and 'module="bench_null_sink"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def memory(self):
        if not self.host_available():
            self.skip("memory", "host not built")
            return
        missing = [m for m in ("profile", "pyroscope", "pinpoint") if not self.plugin_available(m)]
        if missing:
            self.skip("memory", f"modules not built: {', '.join(missing)}")
            return
        # The full run repeats the overload with glibc limited to 2 malloc arenas: the
        # difference is what per-thread arenas (fragmentation) add to the peak.
        variants = [list(self.args.host_env)]
        if not self.quick and not self.args.host_env:
            variants.append(["MALLOC_ARENA_MAX=2"])
        self.results["sections"]["memory"] = [self.memory_once(v) for v in variants]

    def memory_once(self, host_env):
        gport = free_port()
        env = {"ENV_DEFAULT_ENABLED_INPUTS": "profile,pyroscope,pinpoint",
               "ENV_INPUT_PINPOINT_ADDRESS": f"127.0.0.1:{gport}"}
        env.update(kv.split("=", 1) for kv in host_env if kv not in self.args.host_env)
        conf = f"[bus]\n  max_memory_mb = {self.args.bus_memory_mb}\n" if self.args.bus_memory_mb else ""
        res = {"host_env": " ".join(host_env) or "–", "bus_max_memory_mb": self.args.bus_memory_mb or "default"}
        with Host(self.build, self.work, "memory", {}, env=env, tributary_conf=conf) as h:
            wait_tcp(gport, 10, h.proc)
            time.sleep(2)
            res["idle_rss_mb"] = round(status_kb(h.proc.pid, "VmRSS") / 1024, 1)
            # Most of the idle RSS is clean shared-library pages; PSS shares them out.
            res["idle_pss_mb"] = round(rollup_kb(h.proc.pid, "Pss") / 1024, 1)
            res["idle_rss_anon_mb"] = round(status_kb(h.proc.pid, "RssAnon") / 1024, 1)
            res["idle_threads"] = status_kb(h.proc.pid, "Threads")
            # 10x overload: ten times the connections of the throughput runs, all sending the
            # 100 KB-class dd-trace upload, plus Pyroscope uploads and pinpoint streams at once.
            seconds = self.args.overload_seconds or (10 if self.quick else 60)
            samples = []
            threads = []
            stop = threading.Event()

            def sample():
                t0 = time.time()
                while not stop.is_set():
                    with contextlib.suppress(OSError):
                        samples.append((round(time.time() - t0, 2), round(status_kb(h.proc.pid, "VmRSS") / 1024, 1)))
                        threads.append(status_kb(h.proc.pid, "Threads"))
                    stop.wait(0.5)

            sampler = threading.Thread(target=sample)
            sampler.start()
            hdrs, _ = recorded_headers(os.path.join(FIXTURES, "ddtrace-nodejs", "profiling-input.request.json"))
            phdrs, preq = recorded_headers(os.path.join(FIXTURES, "pyroscope-nodejs", "ingest-wall.request.json"))
            jobs = []
            outputs = {}

            def job(name, fn):
                def run():
                    try:
                        outputs[name] = fn()
                    except Exception as e:  # reported, the run goes on
                        outputs[name] = {"error": str(e)}
                t = threading.Thread(target=run)
                jobs.append(t)
                t.start()

            conns = self.conns * 10
            job("profile", lambda: run_http_load(self.tools, h.port, "POST", "/profiling/v1/input",
                                                 os.path.join(self.data, "ddtrace-large.multipart"), hdrs,
                                                 conns, seconds, 0, "overload/profile", 2))
            job("pyroscope", lambda: run_http_load(self.tools, h.port, "POST", "/ingest?" + preq["query_raw"],
                                                   os.path.join(self.data, "wall-large.pprof.gz"), phdrs,
                                                   max(1, conns // 4), seconds, 0, "overload/pyroscope", 1))
            client = os.path.join(self.tools, "trib_bench_pinpoint_client")
            if os.path.exists(client):
                def pp():
                    r = subprocess.run([client, "--target", f"127.0.0.1:{gport}", "--fixtures-bin",
                                        os.path.join(FIXTURES, "pinpoint-nodejs", "bin"), "--streams",
                                        str(self.args.streams * 4), "--duration", str(seconds)],
                                       capture_output=True, text=True, timeout=seconds + 120)
                    return json.loads(r.stdout) if r.stdout.strip() else {"error": r.stderr.strip()}
                job("pinpoint", pp)
            for t in jobs:
                t.join()
            time.sleep(2)
            stop.set()
            sampler.join()
            res["overload_seconds"] = seconds
            res["overload_connections"] = {"profile": conns, "pyroscope": max(1, conns // 4),
                                           "pinpoint_streams": self.args.streams * 4}
            res["overload_results"] = outputs
            res["peak_rss_mb"] = max(v for _, v in samples) if samples else None
            res["vmhwm_mb"] = round(status_kb(h.proc.pid, "VmHWM") / 1024, 1)
            res["final_rss_mb"] = samples[-1][1] if samples else None
            res["rss_samples"] = samples
            res["peak_threads"] = max(threads) if threads else None
            # The host hands freed heap pages back once nothing has been in flight for 2 s.
            time.sleep(4)
            with contextlib.suppress(OSError):
                res["quiet_rss_mb"] = round(status_kb(h.proc.pid, "VmRSS") / 1024, 1)
            res["host_alive"] = h.proc.alive()
        return res

    def finish(self):
        self._stop_load.set()
        self.results["load_after"] = loadavg()
        self.results["load_1m_samples"] = self.load_samples
        self.results["finished"] = datetime.datetime.now().astimezone().isoformat()
        shutil.rmtree(self.work, ignore_errors=True)


# ------------------------------------------------------------------ report

def fmt(x, nd=1):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def markdown(results):
    out = []
    m = results["machine"]
    loads = results.get("load_1m_samples") or []
    out.append(f"Machine: {m['nproc']} × {m['cpu_model']}, {m['mem_mb']} MB RAM, kernel {m['kernel']}, "
               f"commit {m['git_commit']}, {m['nginx']}. Load average (1 min) before {results['load_before'][0]}, "
               f"during {min(loads) if loads else '–'}–{max(loads) if loads else '–'}, after "
               f"{results.get('load_after', ['–'])[0]}. Mode: {'--quick' if results['quick'] else 'full'}.")
    out.append("")
    for key, title in (("profile_ingest", "Profile ingest (POST /profiling/v1/input)"),
                       ("pyroscope_ingest", "Pyroscope ingest (POST /ingest)")):
        rows = results["sections"].get(key)
        if not rows:
            continue
        out.append(f"### {title}")
        out.append("")
        out.append("| body | target | uploads/s | MB/s | p50 ms | p99 ms | server CPU % | uploads per server CPU-s | client CPU % | ÷ nginx-store | ÷ nginx-discard | non-2xx | stored |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            non2xx = sum(v for k, v in r["status"].items() if not 200 <= int(k) < 300) + r.get("errors", 0)
            stored = f"{r['stored_points']}/{r['acknowledged_total']}" if "stored_points" in r else ""
            out.append(f"| {r['body']} | {r['target']} | {fmt(r['uploads_per_s'])} | {fmt(r['mb_per_s'])} | "
                       f"{fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {fmt(r['server_cpu_pct'])} | "
                       f"{fmt(r['uploads_per_s'] * 100 / r['server_cpu_pct'] if r['server_cpu_pct'] > 0 else None, 0)} | "
                       f"{fmt(r['client_cpu_pct'])} | "
                       f"{fmt(r.get('ratio_nginx_store'), 2)} | {fmt(r.get('ratio_nginx_discard'), 2)} | "
                       f"{non2xx} | {stored} |")
        out.append("")
    rows = results["sections"].get("viewer_cpu")
    if rows:
        out.append("#### Viewer indexing cost as host CPU per upload (fixed number of uploads, 4 connections)")
        out.append("")
        out.append("Ingest: until every upload is stored (and indexed); + summaries: until the summarizer "
                   "(SCHED_IDLE, runs on CPU nothing else wants) has decoded them all.")
        out.append("")
        out.append("| body | target | uploads | CPU ms/upload, ingest | ÷ host | non-summarizer threads ms | ÷ host | "
                   "summarizer ms | CPU ms/upload with summaries | ÷ host | summarized | non-2xx |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            out.append(f"| {r['body']} | {r['target']} | {r['uploads']} | {fmt(r['ingest_cpu_ms_per_upload'], 3)} | "
                       f"{fmt(r.get('ingest_ratio_off'), 2)} | {fmt(r['ingest_threads_cpu_ms_per_upload'], 3)} | "
                       f"{fmt(r.get('threads_ratio_off'), 2)} | "
                       f"{fmt(r.get('summarizer_cpu_ms_per_upload'), 3)} | {fmt(r.get('total_cpu_ms_per_upload'), 3)} | "
                       f"{fmt(r.get('total_ratio_off'), 2)} | {r.get('summarized', '')} | {r['non2xx']} |")
        out.append("")
    rows = results["sections"].get("viewer_ab")
    if rows:
        out.append("#### Viewer on vs off, interleaved pairs of saturating runs (uploads/s answered 2xx)")
        out.append("")
        out.append("| body | pairs | off, each run | on, each run | on ÷ off per pair | median off | median on | "
                   "median of on ÷ off |")
        out.append("|---|---:|---|---|---|---:|---:|---:|")
        for r in rows:
            out.append(f"| {r['body']} | {r['pairs']} | {', '.join(fmt(x) for x in r['off'])} | "
                       f"{', '.join(fmt(x) for x in r['on'])} | {', '.join(fmt(x, 2) for x in r['ratios'])} | "
                       f"{fmt(r['median_off'])} | {fmt(r['median_on'])} | {fmt(r['median_ratio'], 3)} |")
        out.append("")
    rows = results["sections"].get("nats")
    if rows:
        out.append("### NATS JetStream sink vs file sink (POST /profiling/v1/input; write() waits for the JetStream acks)")
        out.append("")
        out.append("| body | target | uploads/s answered | sink catch-up s | uploads/s stored | p50 ms | p99 ms | CPU % (host + nats-server) | ÷ file sink (stored) | non-2xx | stored |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in rows:
            non2xx = sum(v for k, v in r["status"].items() if not 200 <= int(k) < 300) + r.get("errors", 0)
            stored = (f"{r['stored']}/{r['acknowledged_total']} points" if "stored" in r
                      else f"{r.get('stream_messages')} stream messages for {r['acknowledged_total']} uploads")
            out.append(f"| {r['body']} | {r['target']} | {fmt(r['uploads_per_s'])} | {fmt(r.get('catch_up_s'), 1)} | "
                       f"{fmt(r.get('drained_uploads_per_s'))} | {fmt(r['p50_ms'], 2)} | "
                       f"{fmt(r['p99_ms'], 2)} | {fmt(r['server_cpu_pct'])} | {fmt(r.get('ratio_file_sink'), 2)} | "
                       f"{non2xx} | {stored} |")
        out.append("")
    rows = results["sections"].get("pyroscope_sink")
    if rows:
        out.append("### Pyroscope sink: host A (profile input → file + pyroscope sinks) → host B (pyroscope input)")
        out.append("")
        out.append("| body | variant | uploads/s into A | forwarded uploads/s (B received, from load start) | ÷ relabel off | A+B CPU % | stored at A | series at B |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            out.append(f"| {r['body']} | {r['target']} | {fmt(r['uploads_per_s'])} | {fmt(r['forwarded_uploads_per_s'])} | "
                       f"{fmt(r.get('ratio_off'), 2)} | {fmt(r['server_cpu_pct'])} | {r['stored']}/{r['acknowledged']} | "
                       f"{r['received_series']} |")
        out.append("")
    rows = results["sections"].get("viewer")
    if rows:
        out.append("### Viewer: flame graph of 360 uploads of one service (GET /api/v1/flamegraph)")
        out.append("")
        out.append(f"{rows[0]['summarized_before']} of {rows[0]['profiles']} uploads summarized by the summarizer "
                   f"{fmt(rows[0]['summarize_s'])} s after the last was sent (the first query summarized the rest).")
        out.append("")
        out.append("| type | path | profiles merged | upload KB | first answer ms | median of 5 ms | answer KB |")
        out.append("|---|---|---:|---:|---:|---:|---:|")
        for r in rows:
            out.append(f"| {r['type']} | {r['phase']} | {r['profiles']} | {r['upload_kb']} | {fmt(r['first_ms'])} | "
                       f"{fmt(r['median_ms'])} | {r['answer_kb']} |")
        out.append("")
    rows = results["sections"].get("pinpoint")
    if rows:
        out.append("### Pinpoint spans (v1.Span/SendSpan streams)")
        out.append("")
        out.append("| target | streams | span messages/s | server CPU % | server CPU µs/message | ÷ bare | stream status "
                   "| stored points |")
        out.append("|---|---:|---:|---:|---:|---:|---|---:|")
        for r in rows:
            out.append(f"| {r['target']} | {r['streams']} | {fmt(r['spans_per_s'])} | {fmt(r['server_cpu_pct'])} | "
                       f"{fmt(r.get('cpu_us_per_msg'), 2)} | "
                       f"{fmt(r.get('ratio_bare'), 2)} | {', '.join(f'{k}×{v}' for k, v in r['status'].items())} | "
                       f"{r.get('stored_points', '')} |")
        out.append("")
    rows = results["sections"].get("decode")
    if rows:
        out.append("### pprof decode (one thread; MB of uncompressed pprof per CPU-second and per wall-second)")
        out.append("")
        out.append("| input | uncompressed bytes | step | MB/CPU-s | MB/wall-s | ÷ libprotobuf ParseFromString (CPU) |")
        out.append("|---|---:|---|---:|---:|---:|")
        for r in rows:
            out.append(f"| {r['input']} | {fmt(r['uncompressed_bytes'])} | {r['step']} | {fmt(r['mb_per_cpu_s'])} | "
                       f"{fmt(r['mb_per_wall_s'])} | {fmt(r.get('ratio_protobuf'), 2)} |")
        out.append("")
    rows = results["sections"].get("ingest_cpu")
    if rows:
        load = results["sections"].get("ingest_cpu_loadavg") or [0, 0, 0]
        out.append("### Module CPU per 100 KB-class upload (in-memory host: no HTTP, no bus; "
                   f"load average after: {load[0]:.2f})")
        out.append("")
        out.append("| module | generate_metrics | uploads | process CPU ms/upload | request thread CPU ms/upload |")
        out.append("|---|---|---:|---:|---:|")
        for r in rows:
            out.append(f"| {r['input']} | {r['metrics']} | {r['uploads']} | {fmt(r['process_cpu_ms_per_upload'], 3)} | "
                       f"{fmt(r['request_thread_cpu_ms_per_upload'], 3)} |")
        out.append("")
    rows = results["sections"].get("bus")
    if rows:
        out.append("### Bus through the ABI (emit → router → null sink module)")
        out.append("")
        out.append("| emitting threads | points per batch | points/s | backpressure answers |")
        out.append("|---:|---:|---:|---:|")
        for r in rows:
            out.append(f"| {r['threads']} | {r['batch']} | {fmt(r['points_per_s'])} | {r['backpressure']} |")
        out.append("")
    mems = results["sections"].get("memory")
    if mems:
        out.append("### Memory (host with profile, pyroscope and pinpoint inputs)")
        out.append("")
        out.append("| host env | idle RSS MB (PSS) | peak RSS MB (overload) | VmHWM MB | final RSS MB | RSS 6 s after MB | "
                   "threads idle/peak | overload | profile | pyroscope | pinpoint |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---|---|---|---|")
        for mem in mems:
            ov = mem["overload_results"]

            def ok_rate(name):
                r = ov.get(name, {})
                if "uploads_per_s" in r:
                    non = sum(v for k, v in r["status"].items() if not 200 <= int(k) < 300)
                    return f"{fmt(r['uploads_per_s'])}/s ok, {non} non-2xx"
                if "spans_per_s" in r:
                    return (f"{fmt(r['spans_per_s'])} spans/s acknowledged, {fmt(r['sent'])} sent; streams ended "
                            + ", ".join(f"{k}×{v}" for k, v in r["status"].items()))
                return r.get("error", "–")
            c = mem["overload_connections"]
            out.append(f"| {mem['host_env']} | {fmt(mem['idle_rss_mb'])} ({fmt(mem.get('idle_pss_mb'))}) | "
                       f"{fmt(mem['peak_rss_mb'])} | {fmt(mem['vmhwm_mb'])} | {fmt(mem['final_rss_mb'])} | "
                       f"{fmt(mem.get('quiet_rss_mb'))} | {mem.get('idle_threads', '–')}/{mem.get('peak_threads', '–')} | "
                       f"{mem['overload_seconds']} s, "
                       f"{c['profile']}+{c['pyroscope']} HTTP conns, {c['pinpoint_streams']} streams | "
                       f"{ok_rate('profile')} | {ok_rate('pyroscope')} | {ok_rate('pinpoint')} |")
        out.append("")
        for mem in mems:
            series = mem["rss_samples"]
            step = max(1, len(series) // 12)
            out.append(f"RSS over the overload, host env {mem['host_env']} (s → MB): "
                       + ", ".join(f"{t:g}→{v:g}" for t, v in series[::step]))
            out.append("")
    if results["skipped"]:
        out.append("Skipped: " + "; ".join(f"{k}: {v}" for k, v in results["skipped"].items()))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short runs (< 3 minutes in all)")
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "latest.json"))
    ap.add_argument("--work-dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                    help="where the servers' data dirs go (default /dev/shm: a tmpfs, so the figures are not "
                         "those of the disk)")
    ap.add_argument("--only", default="", help="comma list of: profile,pyroscope,pyroscope_sink,pinpoint,decode,bus,memory,viewer,viewer_ab,nats")
    ap.add_argument("--duration", type=float, default=0, help="seconds per throughput run")
    ap.add_argument("--connections", type=int, default=16, help="keep-alive connections per HTTP run")
    ap.add_argument("--client-threads", type=int, default=2, help="load generator threads")
    ap.add_argument("--streams", type=int, default=4, help="pinpoint streams (agents)")
    ap.add_argument("--ab-pairs", type=int, default=5, help="viewer_ab: interleaved off/on pairs per body")
    ap.add_argument("--overload-seconds", type=float, default=0)
    ap.add_argument("--bus-memory-mb", type=int, default=0,
                    help="memory section: the host's [bus] max_memory_mb (default: the host's default)")
    ap.add_argument("--host-env", action="append", default=[], metavar="K=V",
                    help="extra environment for every host started (e.g. MALLOC_ARENA_MAX=2, "
                         "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2)")
    ap.add_argument("--perf", action="store_true",
                    help="sample the host with perf during its runs; flat reports go beside --out")
    args = ap.parse_args()
    HOST_ENV.update(kv.split("=", 1) for kv in args.host_env)
    if args.perf:
        global PERF_DIR
        PERF_DIR = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(PERF_DIR, exist_ok=True)
    only = set(filter(None, args.only.split(",")))
    b = Bench(args)
    steps = [("profile", b.profile_ingest), ("pyroscope", b.pyroscope_ingest), ("pyroscope_sink", b.pyroscope_sink),
             ("pinpoint", b.pinpoint),
             ("decode", b.decode), ("bus", b.bus), ("memory", b.memory), ("viewer", b.viewer),
             ("viewer_ab", b.viewer_ab),
             ("nats", b.nats)]
    try:
        b.prepare()
        for name, fn in steps:
            if only and name not in only:
                continue
            log(f"{name} ...")
            t0 = time.time()
            try:
                fn()
            except Exception as e:  # one broken section must not hide the others' figures
                log(f"{name} failed: {e}")
                b.results["skipped"][name] = f"failed: {e}"
            log(f"{name} done in {time.time() - t0:.0f} s")
    finally:
        Proc.stop_all()
        b.finish()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(b.results, f, indent=1)
    md = markdown(b.results)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
        f.write(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
