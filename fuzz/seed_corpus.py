#!/usr/bin/env python3
"""Writes the starting corpus of each fuzz target into fuzz/corpus-raw/<target>/
from the fixture trees, the rule files and literal texts of the unit tests.
`cargo fuzz cmin` then keeps what adds coverage (FUZZING.md)."""
import glob, hashlib, json, os, re, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus-raw")
FIX = os.path.join(ROOT, "tests", "fixtures")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def files(pattern):
    for p in sorted(glob.glob(os.path.join(FIX, "*", pattern))):
        with open(p, "rb") as f:
            yield f.read()


def rust_literals(path, marker):
    """Every string literal on or after a line containing `marker` up to the
    literal's end: "…" or r#"…"#."""
    text = open(os.path.join(ROOT, path)).read()
    out = []
    for m in re.finditer(r'r#"(.*?)"#|"((?:[^"\\]|\\.)*)"', text, re.S):
        s = m.group(1) if m.group(1) is not None else m.group(2).replace("\\n", "\n").replace('\\"', '"')
        if marker in s:
            out.append(s)
    return out


for data in files("proc/net/netstat"):
    put("paired_counters", data)
for data in files("proc/net/snmp"):
    put("paired_counters", data)
for data in files("proc/net/sockstat*"):
    put("sockstat", data)
for tree in sorted(glob.glob(os.path.join(FIX, "*"))):
    ipv4 = os.path.join(tree, "proc/sys/net/ipv4")
    try:
        r = open(os.path.join(ipv4, "ip_local_port_range"), "rb").read().strip()
        v = open(os.path.join(ipv4, "ip_local_reserved_ports"), "rb").read().strip()
        put("ports", r + b"\n" + v)
    except OSError:
        pass
put("ports", "1024\t65535\n8080,30000-40000, 32768 - 32800")
conf = list(files("etc/sysctl.conf")) + list(files("etc/sysctl.d/*")) + list(files("usr/lib/sysctl.d/*"))
for data in conf:
    put("sysctl_file", data)
    put("dropin_edit", b"\x01" + data + b"\x00net.ipv4.tcp_tw_reuse = 1\nnet/ipv4/tcp_fin_timeout = 30\n")
put("dropin_edit", b"\x00\x00net.ipv4.ip_local_port_range = 1024  65000\n")
put("dropin_edit", b"\x01-net.ipv4.tcp_tw_reuse=2\n# c\nnet.ipv4.tcp_tw_reuse = 0\x00net.ipv4.tcp_tw_reuse = 1\n")
for data in files("proc/sys/kernel/osrelease"):
    put("kernel_release", data)
for s in ["3.10.0-1160.el7.x86_64", "6.18.44-fc-v657", "4.19.0+", "5.4", "6.1.0-13-amd64\n", "99999999999.1"]:
    put("kernel_release", s)
for s in ["5s", "500ms", "2", "1.5m", "0.001s", "60m", "3600"]:
    put("duration", s)
for s in rust_literals("src/facts/sockets/proc_tcp.rs", "local_address") + rust_literals("tests/it/parsers_robust.rs", "local_address"):
    put("proc_tcp", s)
for s in rust_literals("src/facts/nat/conntrack.rs", "src=") + rust_literals("tests/it/parsers_robust.rs", "src="):
    put("conntrack", s)
for s in rust_literals("src/facts/nat/ruleset.rs", "nftables") + rust_literals("tests/it/parsers_robust.rs", "nftables"):
    put("nat_ruleset", s)
put("nat_ruleset", "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n-A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 172.17.0.2\n-A POSTROUTING -o eth0 -j SNAT --to-source 192.0.2.1\nCOMMIT\n")
for p in sorted(glob.glob(os.path.join(ROOT, "rules", "*.toml"))):
    put("rule_toml", open(p, "rb").read())
journal = {
    "version": 1, "operation": "apply", "pid": 4242, "started": 1700000000,
    "runtime": [{"key": "net.ipv4.tcp_tw_reuse", "old": "2", "new": "1"},
                {"key": "net.ipv4.ip_local_port_range", "old": "32768\t60999", "new": "1024 65000"}],
    "persist": {"file": "/etc/sysctl.d/90-twtune.conf", "old": None,
                "new": "net.ipv4.tcp_tw_reuse = 1\n", "temp": "/etc/sysctl.d/.90-twtune.conf.twtune-tmp"},
}
put("journal", json.dumps(journal, indent=2))
journal.update(operation="rollback", persist=None, runtime=[])
put("journal", json.dumps(journal))


def nlmsg(kind, body):
    return struct.pack("<IHHII", 16 + len(body), kind, 2, 1, 0) + body


def diag_msg(family, state, src, sport, dst, dport, inode):
    body = bytearray(72)
    body[0], body[1] = family, state
    body[4:6] = struct.pack(">H", sport)
    body[6:8] = struct.pack(">H", dport)
    body[8:8 + len(src)] = src
    body[24:24 + len(dst)] = dst
    body[68:72] = struct.pack("<I", inode)
    return nlmsg(20, bytes(body))


v4 = diag_msg(2, 6, bytes([127, 0, 0, 1]), 40000, bytes([127, 0, 0, 2]), 8080, 0)
v6 = diag_msg(10, 8, bytes(15) + b"\x01", 443, bytes(15) + b"\x01", 50000, 1234)
done = nlmsg(3, struct.pack("<i", 0))
err = nlmsg(2, struct.pack("<i", -1) + bytes(16))
put("sock_diag", v4 + v6)
put("sock_diag", v4 + done)
put("sock_diag", err)
put("sock_diag", nlmsg(1, b"") + v6 + done)


def nla(kind, payload):
    a = struct.pack("<HH", 4 + len(payload), kind) + payload
    return a + bytes(-len(a) % 4)


def ct_tuple(kind, family_len, src, dst, sport, dport):
    ip = nla(1 | 0x8000, nla(1 if family_len == 4 else 3, src) + nla(2 if family_len == 4 else 4, dst))
    proto = nla(2 | 0x8000, nla(1, bytes([6])) + nla(2, struct.pack(">H", sport)) + nla(3, struct.pack(">H", dport)))
    return nla(kind | 0x8000, ip + proto)


def ct_msg(family_len, a, b, c):
    body = bytes([2 if family_len == 4 else 10, 0, 0, 0])
    body += ct_tuple(1, family_len, a, b, 41000, 8080) + ct_tuple(2, family_len, b, c, 8080, 40007)
    body += nla(4 | 0x8000, nla(1 | 0x8000, nla(1, bytes([7]))))
    return nlmsg(0x0100, body)


ct4 = ct_msg(4, bytes([192, 0, 2, 2]), bytes([198, 51, 100, 2]), bytes([198, 51, 100, 1]))
ct6 = ct_msg(16, bytes(15) + b"\x02", bytes(15) + b"\x03", bytes(15) + b"\x04")
put("ctnetlink", ct4 + done)
put("ctnetlink", ct4 + ct6)
put("ctnetlink", err)
put("ctnetlink", ct6 + nlmsg(0x0100, bytes(4)) + done)
# Issue 19: the host's addresses and interfaces, socket links, cgroup
# texts and the conntrack statistics.
for lit in rust_literals("src/facts/nat/host.rs", "|-- ") + rust_literals("src/facts/nat/host.rs", " lo"):
    put("nat_host", lit)
for data in files("proc/net/dev"):
    put("nat_host", data)
put("nat_host", "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.0.0.5\n        /32 host LOCAL\n     |-- 192.168.1.1\n        /24 link UNICAST\n")
for link in ["socket:[12345]", "socket:[0]", "socket:[18446744073709551615]", "pipe:[99]", "anon_inode:[eventfd]", "/dev/null"]:
    put("socket_link", link)
cid = "0123456789abcdef" * 4
uid = "d3b07384-d9a0-4c9e-8f1a-0b2c3d4e5f60"
for text in [
    "0::/system.slice/docker-%s.scope\n" % cid,
    "12:pids:/docker/%s\n1:name=systemd:/docker/%s\n" % (cid, cid),
    "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice/cri-containerd-%s.scope\n" % (uid.replace("-", "_"), cid),
    "0::/kubepods/burstable/pod%s/%s\n" % (uid, cid),
    "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-%s.scope/container\n" % cid,
    "0::/init.scope\n",
]:
    put("cgroup", text)
for lit in rust_literals("src/facts/nat/table.rs", "insert_failed"):
    put("conntrack_stats", lit)
for data in files("proc/net/stat/nf_conntrack"):
    put("conntrack_stats", data)
# The tracing decoders (issue 17): tracefs format files (the kernel's own,
# copied into src/facts/trace/kernel_formats.rs, and the unit tests' garbled
# ones), each also followed by a NUL and a raw record to read fields from;
# the perf ring (TAIL u64, SPAN u16, then the ring) holding samples whose raw
# records have the kernel's layout, and those raw records alone.
def tab(s):
    return s.replace("\\t", "\t")


formats = [tab(l) for l in rust_literals("src/facts/trace/kernel_formats.rs", "ID:")]
formats += [tab(l) for l in rust_literals("src/facts/trace/format.rs", "ID:")]
formats += [tab(l) for l in rust_literals("src/facts/trace/tests.rs", "ID:")]
ids = {}
for f in formats:
    put("trace_format", f)
    put("trace_format", f.encode() + b"\x00" + bytes(range(80)))
    m = re.search(r"name: (\S+)\nID: (\d+)", f)
    if m:
        ids[m.group(1)] = int(m.group(2))


def state_raw(family, old, new, sport, dport, src, dst):
    raw = bytearray(72)
    struct.pack_into("<H", raw, 0, ids["inet_sock_set_state"])
    struct.pack_into("<iiHHHH", raw, 16, old, new, sport, dport, family, 6)
    if family == 2:
        raw[32:36], raw[36:40] = src, dst
    else:
        raw[40:56], raw[56:72] = src, dst
    return bytes(raw)


def exit_raw(name, ret):
    raw = bytearray(24)
    struct.pack_into("<H", raw, 0, ids[name])
    struct.pack_into("<q", raw, 16, ret)
    return bytes(raw)


comm = bytearray(36)
struct.pack_into("<H", comm, 0, ids["sched_process_exit"])
comm[8:15] = b"churner"
comm[32] = 1
mapped = bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 1])
raws = [
    state_raw(2, 7, 2, 0, 8080, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])),
    state_raw(2, 1, 4, 40000, 80, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])),
    state_raw(10, 2, 7, 0, 443, mapped, bytes(15) + b"\x01"),
    exit_raw("sys_exit_connect", -99),
    exit_raw("sys_exit_bind", -98),
    bytes(comm),
]


def perf_sample(pid, raw):
    body = struct.pack("<IIQI", pid, pid, 1000, len(raw)) + raw
    return struct.pack("<IHH", 9, 0, 8 + len(body)) + body


lost = struct.pack("<IHH", 2, 0, 24) + struct.pack("<QQ", 0, 12)
for raw in raws:
    put("perf_sample", bytes(10) + raw)
    rec = perf_sample(42, raw)
    put("perf_sample", struct.pack("<QH", 0, len(rec)) + rec)
ring = b"".join(perf_sample(40 + i, r) for i, r in enumerate(raws)) + lost
put("perf_sample", struct.pack("<QH", 0, len(ring)) + ring)
# The same ring gone round: its first record wraps at the end.
put("perf_sample", struct.pack("<QH", 3 * len(ring) - 16, len(ring)) + ring[16:] + ring[:16])


# The ctnetlink statistics dump (ctnetlink_ct_stat_cpu_fill_info()).
def stats_cpu(cpu, attrs):
    body = bytes([0, 0]) + struct.pack(">H", cpu)
    body += b"".join(struct.pack("<HH", 8, k) + struct.pack(">I", v) for k, v in attrs)
    return nlmsg(0x0104, body)


put("ctnetlink_stats", stats_cpu(0, [(2, 99), (9, 3), (10, 1), (11 | 0x4000, 0)]) + stats_cpu(1, [(9, 10), (10, 0), (11, 4), (14, 7)]) + done)
put("ctnetlink_stats", stats_cpu(0, [(14, 7)]))
put("ctnetlink_stats", err)
put("ctnetlink_stats", stats_cpu(3, [(9, 0xFFFFFFFF), (9, 0xFFFFFFFF)]) + nlmsg(3, bytes(4)))
for t, n in sorted((t, len(os.listdir(os.path.join(OUT, t)))) for t in os.listdir(OUT)):
    print(t, n, file=sys.stderr)
