use super::*;

fn dest(port: u16) -> DestTuple {
    DestTuple {
        local: "10.0.0.1".parse().unwrap(),
        remote: "10.0.0.2".parse().unwrap(),
        remote_port: port,
    }
}

fn state(old: i64, new: i64, sport: u16, port: u16) -> Event {
    Event::StateChange {
        old,
        new,
        sport,
        dest: dest(port),
    }
}

fn info(start_ns: u64, comm: &str) -> ProcInfo {
    ProcInfo {
        start_ns,
        command: Some(comm.into()),
        cgroup: Some("/system.slice/x.service".into()),
        netns: Some(7),
    }
}

#[test]
fn counts_connects_closes_and_failures_per_process() {
    let mut acc = Accumulator::new(
        |pid| match pid {
            10 => Some(info(0, "churner")),
            // Started after the events: a later process with the pid.
            20 => Some(info(5_000_000_000, "newcomer")),
            _ => None,
        },
        10_000_000,
    );
    for t in 0..3 {
        acc.event(10, 10, t, state(7, 2, 0, 80));
        acc.event(10, 11, t, state(1, 4, 40000, 80));
    }
    // Transitions not counted.
    acc.event(10, 10, 4, state(2, 1, 40001, 80));
    acc.event(10, 10, 4, state(2, 7, 40001, 80));
    // A connect that found no port: SYN_SENT→CLOSE with no source port,
    // then the failing exit in the same thread.
    acc.event(10, 12, 5, state(7, 2, 0, 80));
    acc.event(10, 12, 5, state(2, 7, 0, 80));
    acc.event(
        10,
        12,
        6,
        Event::SyscallExit {
            syscall: Syscall::Connect,
            ret: -99,
        },
    );
    // Other errors are not counted; a bind failure has no destination.
    acc.event(
        10,
        12,
        7,
        Event::SyscallExit {
            syscall: Syscall::Connect,
            ret: -111,
        },
    );
    acc.event(
        10,
        12,
        8,
        Event::SyscallExit {
            syscall: Syscall::Bind,
            ret: -98,
        },
    );
    // pid 20: the live process is newer than the event; its exit
    // record names the one that made it.
    acc.event(20, 20, 9, state(1, 4, 40002, 443));
    acc.event(
        20,
        20,
        10,
        Event::Exit {
            comm: "short-lived".into(),
            group_dead: true,
        },
    );
    // A thread's exit does not end the process.
    acc.event(
        10,
        11,
        11,
        Event::Exit {
            comm: "worker".into(),
            group_dead: false,
        },
    );
    let t = acc.trace;
    assert_eq!(t.processes.len(), 2);
    let churner = &t.processes[0];
    assert_eq!(churner.command.as_deref(), Some("churner"));
    assert!(!churner.exited);
    assert_eq!(churner.netns, Some(7));
    assert_eq!(
        t.per_destination[&(0, dest(80))],
        Counts {
            connects: 3,
            active_closes: 3
        }
    );
    assert_eq!(
        t.failures[&FailureKey {
            process: 0,
            syscall: Syscall::Connect,
            errno: 99,
            destination: Some(dest(80)),
        }],
        1
    );
    assert_eq!(
        t.failures[&FailureKey {
            process: 0,
            syscall: Syscall::Bind,
            errno: 98,
            destination: None,
        }],
        1
    );
    assert_eq!(t.failures.len(), 2);
    let gone = &t.processes[1];
    assert_eq!(gone.command.as_deref(), Some("short-lived"));
    assert!(gone.exited);
    assert_eq!(gone.netns, None);
    assert_eq!(t.per_destination[&(1, dest(443))].active_closes, 1);
}

#[test]
fn only_threads_of_the_checked_namespace_count() {
    // Thread 11 of process 10 moved to namespace 2 (setns); 12 is gone.
    let mut acc = Accumulator::new(|_| Some(info(0, "mixed")), 1).with_namespace(
        Some(1),
        |_, tid| match tid {
            10 => Some(1),
            11 => Some(2),
            _ => None,
        },
    );
    acc.event(10, 10, 1, state(7, 2, 0, 80));
    acc.event(10, 11, 2, state(7, 2, 0, 80));
    acc.event(10, 11, 3, state(1, 4, 40000, 80));
    acc.event(10, 12, 4, state(1, 4, 40001, 80));
    assert_eq!(
        acc.trace.per_destination[&(0, dest(80))],
        Counts {
            connects: 1,
            active_closes: 1
        }
    );
    assert_eq!(acc.trace.own_netns, Some(1));
}

#[test]
fn one_split_trace_counts_for_each_namespace_what_its_own_trace_would() {
    // Thread 10 is in namespace 1, 11 in namespace 2, 12 exited unseen.
    let netns_of: NetnsLookup = |_, tid| match tid {
        10 => Some(1),
        11 => Some(2),
        _ => None,
    };
    let events = [
        (10, 1, state(7, 2, 0, 80)),
        (11, 2, state(7, 2, 0, 80)),
        (11, 3, state(1, 4, 40000, 80)),
        (12, 4, state(1, 4, 40001, 80)),
        (
            10,
            5,
            Event::Exit {
                comm: "mixed".into(),
                group_dead: true,
            },
        ),
    ];
    let mut split = SplitAccumulator::new(|_| Some(info(0, "mixed")), 1, netns_of);
    for (tid, time, event) in events.clone() {
        split.event(10, tid, time, event);
    }
    let traced = TracingFacts {
        status: "traced".into(),
        ..TracingFacts::not_sampled()
    };
    let split = split.finish(traced);
    for own in [1, 2, 3] {
        let mut alone =
            Accumulator::new(|_| Some(info(0, "mixed")), 1).with_namespace(Some(own), netns_of);
        for (tid, time, event) in events.clone() {
            alone.event(10, tid, time, event);
        }
        let got = split.for_namespace(own);
        assert_eq!(got.own_netns, Some(own));
        let sum = |t: &Trace| {
            t.per_destination
                .iter()
                .map(|(&(p, d), c)| ((t.processes[p].pid, d), (c.connects, c.active_closes)))
                .fold(
                    HashMap::new(),
                    |mut m: HashMap<_, (u64, u64)>, (k, (a, b))| {
                        let e = m.entry(k).or_default();
                        e.0 += a;
                        e.1 += b;
                        m
                    },
                )
        };
        assert_eq!(sum(&got), sum(&alone.trace), "namespace {own}");
        assert!(got.processes.iter().all(|p| p.exited), "namespace {own}");
        assert_eq!(
            got.processes.len(),
            alone.trace.processes.len(),
            "namespace {own}"
        );
    }
    assert_eq!(sum_of(&split.for_namespace(2)), (1, 2));
    assert_eq!(sum_of(&split.for_namespace(1)), (1, 1));
    // Untraced: nothing counted, the reason kept.
    let none = SplitTrace::unavailable("no tracefs".into()).for_namespace(1);
    assert!(none.per_destination.is_empty());
    assert_eq!(none.facts.reason.as_deref(), Some("no tracefs"));
}

fn sum_of(t: &Trace) -> (u64, u64) {
    t.per_destination
        .values()
        .fold((0, 0), |(a, b), c| (a + c.connects, b + c.active_closes))
}

#[test]
fn rings_shrink_on_hosts_with_many_cpus() {
    assert_eq!(ring_pages(2), 128);
    assert_eq!(ring_pages(32), 128);
    assert_eq!(ring_pages(64), 64);
    assert_eq!(ring_pages(256), 16);
    assert_eq!(ring_pages(4096), 8);
    assert_eq!(ring_pages(0), 128);
}

#[test]
fn a_pid_reused_after_an_exit_is_a_new_process() {
    let mut acc = Accumulator::new(|_| Some(info(0, "first")), 1);
    acc.event(5, 5, 1, state(7, 2, 0, 80));
    acc.event(
        5,
        5,
        2,
        Event::Exit {
            comm: "first".into(),
            group_dead: true,
        },
    );
    acc.event(5, 5, 3, state(7, 2, 0, 80));
    assert_eq!(acc.trace.processes.len(), 2);
    assert!(acc.trace.processes[0].exited);
    assert!(!acc.trace.processes[1].exited);
}

#[test]
fn proc_text() {
    let stat = "4242 (pay ments) api) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
    assert_eq!(parse_stat_start(stat), Some(987654));
    assert_eq!(parse_stat_start("4242 (x"), None);
    assert_eq!(parse_stat_start("4242 (x) S 1"), None);
    assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
    assert_eq!(parse_ns_link("mnt:[1]"), None);
}

#[test]
fn decodes_records_by_the_parsed_layout() {
    let state_format = format::parse(
        "ID: 5
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;
",
    )
    .unwrap();
    let decoders = Decoders::new(&[Some(state_format), None, None, None]).unwrap();
    let mut raw = vec![0u8; 72];
    raw[0..2].copy_from_slice(&5u16.to_ne_bytes());
    raw[16..20].copy_from_slice(&7i32.to_ne_bytes());
    raw[20..24].copy_from_slice(&2i32.to_ne_bytes());
    raw[26..28].copy_from_slice(&8080u16.to_ne_bytes());
    raw[28..30].copy_from_slice(&2u16.to_ne_bytes());
    raw[30..32].copy_from_slice(&6u16.to_ne_bytes());
    raw[32..36].copy_from_slice(&[10, 0, 0, 1]);
    raw[36..40].copy_from_slice(&[10, 0, 0, 2]);
    assert_eq!(
        decoders.decode(&raw),
        Some(Event::StateChange {
            old: 7,
            new: 2,
            sport: 0,
            dest: DestTuple {
                local: "10.0.0.1".parse().unwrap(),
                remote: "10.0.0.2".parse().unwrap(),
                remote_port: 8080
            }
        })
    );
    // UDP (SCTP, MPTCP) transitions are not TCP's.
    raw[30..32].copy_from_slice(&132u16.to_ne_bytes());
    assert_eq!(decoders.decode(&raw), None);
    // A record cut short, or of an unknown tracepoint, decodes to nothing.
    assert_eq!(decoders.decode(&raw[..30]), None);
    raw[0..2].copy_from_slice(&6u16.to_ne_bytes());
    assert_eq!(decoders.decode(&raw), None);
    assert!(Decoders::new(&[None, None, None, None]).is_err());
}

#[test]
fn a_drained_trace_counts_afresh_and_forgets_the_exited() {
    let mut acc = Accumulator::new(
        |pid| match pid {
            10 => Some(info(0, "churner")),
            20 => Some(info(0, "oneshot")),
            _ => None,
        },
        10_000_000,
    );
    acc.event(10, 10, 1, state(7, 2, 0, 80));
    acc.event(20, 20, 2, state(7, 2, 0, 80));
    acc.event(
        20,
        20,
        3,
        Event::Exit {
            comm: "oneshot".into(),
            group_dead: true,
        },
    );
    let first = acc.drain();
    assert_eq!(first.processes.len(), 2);
    assert_eq!(first.per_destination.len(), 2);
    assert!(first.processes.iter().any(|p| p.pid == 20 && p.exited));
    // The next interval: only what happened since, and the living process
    // under its new index.
    acc.event(10, 10, 4, state(7, 2, 0, 80));
    acc.event(10, 10, 5, state(7, 2, 0, 80));
    let second = acc.drain();
    assert_eq!(second.processes.len(), 1, "{:?}", second.processes);
    assert_eq!(second.processes[0].pid, 10);
    assert_eq!(second.processes[0].command.as_deref(), Some("churner"));
    assert_eq!(second.per_destination[&(0, dest(80))].connects, 2);
    assert!(acc.drain().per_destination.is_empty());
}

#[test]
fn a_drained_split_trace_counts_each_namespace_afresh() {
    // Thread 10 (pid 10) is in namespace 1, thread 20 (pid 20) in 2.
    let netns_of: NetnsLookup = |_, tid| match tid {
        10 => Some(1),
        20 => Some(2),
        _ => None,
    };
    let traced = || TracingFacts {
        status: "traced".into(),
        ..TracingFacts::not_sampled()
    };
    let mut split = SplitAccumulator::new(|pid| Some(info(0, &format!("p{pid}"))), 1, netns_of);
    split.event(10, 10, 1, state(7, 2, 0, 80));
    split.event(20, 20, 2, state(7, 2, 0, 80));
    split.event(20, 20, 3, state(7, 2, 0, 80));
    let first = split.drain(traced());
    assert_eq!(sum_of(&first.for_namespace(1)), (1, 0));
    assert_eq!(sum_of(&first.for_namespace(2)), (2, 0));
    assert_eq!(first.for_namespace(2).facts.status, "traced");
    // Namespace 2's process exits: the next drain has its exit, then it is
    // forgotten; namespace 1 counts only what came since.
    split.event(
        20,
        20,
        4,
        Event::Exit {
            comm: "p20".into(),
            group_dead: true,
        },
    );
    split.event(10, 10, 5, state(7, 2, 0, 80));
    split.event(10, 10, 6, state(1, 4, 40000, 80));
    let second = split.drain(traced());
    assert_eq!(sum_of(&second.for_namespace(1)), (1, 1));
    assert_eq!(sum_of(&second.for_namespace(2)), (0, 0));
    let gone = second.for_namespace(2);
    assert!(gone.processes.iter().any(|p| p.pid == 20 && p.exited));
    let third = split.drain(traced());
    assert!(third.for_namespace(2).processes.is_empty());
    assert_eq!(sum_of(&third.for_namespace(1)), (0, 0));
    assert_eq!(third.for_namespace(1).processes.len(), 1);
}
