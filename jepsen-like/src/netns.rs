//! The test network: a bridge `osj-br0` (10.213.0.254/24) in the root namespace and, per node
//! `N`, a network namespace `osj-nN` holding one end of a veth pair (`eth0`, 10.213.0.N/24, and
//! `lo` up) whose other end (`osj-vN`) is a port of the bridge. Clients run in the root
//! namespace and reach the nodes through the bridge.
//!
//! Each namespace gets two iptables chains hooked into `INPUT` for traffic arriving on `eth0`:
//! `OSJ-PART` (partition rules) and `OSJ-LOSS` (random packet loss), and one in the `mangle`
//! table hooked into `POSTROUTING` for traffic leaving on `eth0`: `OSJ-DUP` (packet
//! duplication with `TEE`), so each kind of fault is healed by flushing its own chain. Nothing
//! is ever changed in the root namespace's iptables.
//!
//! When node-to-node traffic goes through the harness's [`crate::proxy`], each node's
//! namespace also gets a `nat` chain `OSJ-PROXY` hooked into `OUTPUT` that DNATs its
//! connections to a peer's gRPC address to the proxy's listener for that link on the bridge
//! address ([`proxy_redirect_commands`]), and the bridge carries one extra address per node,
//! 10.213.0.(100+N)/32 ([`proxy_source_ip`]), that the proxy connects from on node N's behalf
//! (so the receiving node, and its partition rules, can still tell the sender).
//!
//! Command lists are built by pure functions (unit-tested) and run by [`run`] /
//! [`run_blocking`]. Every name the harness creates starts with [`PREFIX`], which is how a
//! later run recognises and removes what a crashed run left behind ([`stale_cleanup`]).

use std::fmt;
use std::path::Path;

use crate::harness_error::HarnessError;
use crate::preflight::Tools;

/// A node id (also the last octet of its address).
pub type NodeId = u64;

/// The prefix of every namespace and link the harness creates.
pub const PREFIX: &str = "osj-";
/// The bridge in the root namespace.
pub const BRIDGE: &str = "osj-br0";
/// The bridge's address: the clients' source address.
pub const BRIDGE_ADDR: &str = "10.213.0.254";
/// Prefix length of the test subnet.
pub const PREFIX_LEN: u8 = 24;
/// Chain holding partition rules in each namespace.
pub const PARTITION_CHAIN: &str = "OSJ-PART";
/// Chain holding packet-loss rules in each namespace.
pub const LOSS_CHAIN: &str = "OSJ-LOSS";
/// `mangle` chain holding packet-duplication rules in each namespace.
pub const DUP_CHAIN: &str = "OSJ-DUP";
/// `nat` chain redirecting node-to-node connections to the proxy in each namespace.
pub const PROXY_CHAIN: &str = "OSJ-PROXY";
/// The interface name inside each namespace.
pub const NODE_IF: &str = "eth0";
/// Node ids must lie in `1..=MAX_NODES` (they are the last octet; the machine is small).
pub const MAX_NODES: u64 = 9;

/// The namespace of node `id`.
pub fn namespace(id: NodeId) -> String {
    format!("{PREFIX}n{id}")
}

/// The bridge-side veth of node `id`.
pub fn host_veth(id: NodeId) -> String {
    format!("{PREFIX}v{id}")
}

/// Node `id`'s address.
pub fn node_ip(id: NodeId) -> String {
    format!("10.213.0.{id}")
}

/// The address the proxy connects from on node `id`'s behalf (an extra address of the
/// bridge while the proxy runs).
pub fn proxy_source_ip(id: NodeId) -> String {
    format!("10.213.0.{}", 100 + id)
}

/// Every source address traffic from node `id` can arrive with: its own, and the proxy's on
/// its behalf. Rules that drop a node's traffic by source drop both.
pub fn source_ips(id: NodeId) -> [String; 2] {
    [node_ip(id), proxy_source_ip(id)]
}

/// A program and its arguments. `program` is `ip` or `iptables` (resolved through [`Tools`]
/// when run) or, inside `ip netns exec`, any program name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
}

impl Cmd {
    pub fn new<I, S>(program: &str, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd {
            program: program.to_string(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// `ip ARGS` (space-separated words).
    pub fn ip(args: &str) -> Cmd {
        Cmd::new("ip", args.split_whitespace())
    }

    /// `ip netns exec NS PROGRAM ARGS`.
    pub fn in_ns(ns: &str, program: &str, args: &str) -> Cmd {
        let mut all = vec![
            "netns".to_string(),
            "exec".into(),
            ns.into(),
            program.into(),
        ];
        all.extend(args.split_whitespace().map(str::to_string));
        Cmd {
            program: "ip".into(),
            args: all,
        }
    }

    /// `iptables -w ARGS` inside node `id`'s namespace.
    pub fn iptables(id: NodeId, args: &str) -> Cmd {
        Cmd::in_ns(&namespace(id), "iptables", &format!("-w {args}"))
    }

    fn to_command(&self, tools: &Tools) -> std::process::Command {
        let program: &Path = match self.program.as_str() {
            "ip" => &tools.ip,
            "iptables" => &tools.iptables,
            other => Path::new(other),
        };
        let mut c = std::process::Command::new(program);
        c.args(&self.args);
        // `ip netns exec` looks the inner program up in PATH: make sure the sbin dirs are in it.
        c.env("PATH", search_path());
        c.stdin(std::process::Stdio::null());
        c
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program)?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// `PATH` with the sbin and bin directories appended.
pub fn search_path() -> String {
    let mut p = std::env::var("PATH").unwrap_or_default();
    for d in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        if !p.split(':').any(|e| e == d) {
            if !p.is_empty() {
                p.push(':');
            }
            p.push_str(d);
        }
    }
    p
}

/// Commands that build the network for `nodes` (bridge, namespaces, veths, addresses, chains).
pub fn setup_commands(nodes: &[NodeId]) -> Vec<Cmd> {
    let mut cmds = vec![
        Cmd::ip(&format!("link add {BRIDGE} type bridge")),
        Cmd::ip(&format!("addr add {BRIDGE_ADDR}/{PREFIX_LEN} dev {BRIDGE}")),
        Cmd::ip(&format!("link set {BRIDGE} up")),
    ];
    for &id in nodes {
        let ns = namespace(id);
        let veth = host_veth(id);
        cmds.extend([
            Cmd::ip(&format!("netns add {ns}")),
            Cmd::ip(&format!(
                "link add {veth} type veth peer name {NODE_IF} netns {ns}"
            )),
            Cmd::ip(&format!("link set {veth} master {BRIDGE}")),
            Cmd::ip(&format!("link set {veth} up")),
            Cmd::in_ns(
                &ns,
                "ip",
                &format!("addr add {}/{PREFIX_LEN} dev {NODE_IF}", node_ip(id)),
            ),
            Cmd::in_ns(&ns, "ip", &format!("link set {NODE_IF} up")),
            Cmd::in_ns(&ns, "ip", "link set lo up"),
            Cmd::iptables(id, &format!("-N {PARTITION_CHAIN}")),
            Cmd::iptables(id, &format!("-N {LOSS_CHAIN}")),
            Cmd::iptables(id, &format!("-A INPUT -i {NODE_IF} -j {PARTITION_CHAIN}")),
            Cmd::iptables(id, &format!("-A INPUT -i {NODE_IF} -j {LOSS_CHAIN}")),
            Cmd::iptables(id, &format!("-t mangle -N {DUP_CHAIN}")),
            Cmd::iptables(
                id,
                &format!("-t mangle -A POSTROUTING -o {NODE_IF} -j {DUP_CHAIN}"),
            ),
        ]);
    }
    cmds
}

/// Commands that add the proxy's per-sender source addresses to the bridge.
pub fn proxy_alias_commands(nodes: &[NodeId]) -> Vec<Cmd> {
    nodes
        .iter()
        .map(|&id| Cmd::ip(&format!("addr add {}/32 dev {BRIDGE}", proxy_source_ip(id))))
        .collect()
}

/// Commands that send node `id`'s connections to each peer's gRPC port (`peers`: peer, its
/// gRPC port, and the proxy's port for the link `id -> peer` on [`BRIDGE_ADDR`]) to the proxy.
/// Only new connections are redirected (NAT decides per connection), so these must be
/// installed before the node starts.
pub fn proxy_redirect_commands(id: NodeId, peers: &[(NodeId, u16, u16)]) -> Vec<Cmd> {
    let mut cmds = vec![
        Cmd::iptables(id, &format!("-t nat -N {PROXY_CHAIN}")),
        Cmd::iptables(id, &format!("-t nat -A OUTPUT -j {PROXY_CHAIN}")),
    ];
    for &(peer, grpc_port, proxy_port) in peers {
        cmds.push(Cmd::iptables(
            id,
            &format!(
                "-t nat -A {PROXY_CHAIN} -p tcp -d {} --dport {grpc_port} -j DNAT --to-destination {BRIDGE_ADDR}:{proxy_port}",
                node_ip(peer)
            ),
        ));
    }
    cmds
}

/// Node `id`'s redirect rules with their packet counters (the first packet of each
/// connection), as `iptables -L -v -x` prints them.
pub fn proxy_counters_command(id: NodeId) -> Cmd {
    Cmd::iptables(id, &format!("-t nat -L {PROXY_CHAIN} -n -v -x"))
}

/// Commands that remove the network for `nodes`, in order; each may fail harmlessly (the thing
/// is already gone). Processes inside the namespaces must be killed first (see
/// [`kill_namespace_processes`]): a namespace with live processes outlives `ip netns del`.
/// The veths are deleted explicitly because deleting a namespace removes its veth end
/// asynchronously.
pub fn teardown_commands(nodes: &[NodeId]) -> Vec<Cmd> {
    let mut cmds = Vec::new();
    for &id in nodes {
        cmds.push(Cmd::ip(&format!("netns del {}", namespace(id))));
        cmds.push(Cmd::ip(&format!("link del {}", host_veth(id))));
    }
    cmds.extend(proxy_alias_removal(nodes));
    cmds.push(Cmd::ip(&format!("link del {BRIDGE}")));
    cmds
}

/// Commands that remove the proxy's source addresses from the bridge (deleting the bridge
/// would take them along; removing them first keeps that explicit).
fn proxy_alias_removal(nodes: &[NodeId]) -> Vec<Cmd> {
    nodes
        .iter()
        .map(|&id| Cmd::ip(&format!("addr del {}/32 dev {BRIDGE}", proxy_source_ip(id))))
        .collect()
}

/// Runs `cmd` to completion without blocking the async runtime; its stdout on success.
pub async fn run(tools: &Tools, cmd: &Cmd) -> Result<String, HarnessError> {
    let out = tokio::process::Command::from(cmd.to_command(tools))
        .kill_on_drop(true)
        .output()
        .await
        .map_err(HarnessError::io("run", cmd.to_string()))?;
    finish(cmd, out)
}

/// Runs `cmd` to completion on this thread (for `Drop`, which cannot await).
pub fn run_blocking(tools: &Tools, cmd: &Cmd) -> Result<String, HarnessError> {
    let out = cmd
        .to_command(tools)
        .output()
        .map_err(HarnessError::io("run", cmd.to_string()))?;
    finish(cmd, out)
}

fn finish(cmd: &Cmd, out: std::process::Output) -> Result<String, HarnessError> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HarnessError::Command {
            command: cmd.to_string(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Builds the network; on a failure removes what was built and returns the error.
pub fn setup(tools: &Tools, nodes: &[NodeId]) -> Result<(), HarnessError> {
    for cmd in setup_commands(nodes) {
        if let Err(e) = run_blocking(tools, &cmd) {
            teardown(tools, nodes);
            return Err(e);
        }
    }
    Ok(())
}

/// Removes the network for `nodes` (best effort); returns the failures that mattered (things
/// still present afterwards).
pub fn teardown(tools: &Tools, nodes: &[NodeId]) -> Vec<String> {
    for &id in nodes {
        kill_namespace_processes(tools, &namespace(id));
    }
    for cmd in teardown_commands(nodes) {
        // Failures are expected for things already gone (e.g. the veth went with its namespace).
        let _ = run_blocking(tools, &cmd);
    }
    leftovers(tools)
}

/// SIGKILLs every process inside namespace `ns` (best effort).
pub fn kill_namespace_processes(tools: &Tools, ns: &str) {
    let Ok(pids) = run_blocking(tools, &Cmd::ip(&format!("netns pids {ns}"))) else {
        return;
    };
    for pid in pids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Names of `osj-*` namespaces in `ip netns list` output (`name (id: 3)` per line).
pub fn parse_netns_list(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_string)
        .collect()
}

/// Names of `osj-*` links in `ip -o link show` output (`9: osj-v2@if8: <...> ...` per line).
pub fn parse_link_list(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n))
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_string)
        .collect()
}

/// Harness namespaces and links that exist now, as `netns X` / `link Y`.
pub fn leftovers(tools: &Tools) -> Vec<String> {
    let mut left: Vec<String> = Vec::new();
    if let Ok(out) = run_blocking(tools, &Cmd::ip("netns list")) {
        left.extend(
            parse_netns_list(&out)
                .into_iter()
                .map(|n| format!("netns {n}")),
        );
    }
    if let Ok(out) = run_blocking(tools, &Cmd::ip("-o link show")) {
        left.extend(
            parse_link_list(&out)
                .into_iter()
                .map(|n| format!("link {n}")),
        );
    }
    if let Ok(out) = run_blocking(tools, &Cmd::ip("-o -4 addr show")) {
        left.extend(
            parse_test_addresses(&out)
                .into_iter()
                .map(|(dev, a)| format!("address {a} on {dev}")),
        );
    }
    left
}

/// `(device, address/len)` of test-subnet (10.213.0.x) addresses in root-namespace
/// `ip -o -4 addr show` output (`7: osj-br0    inet 10.213.0.101/32 scope global osj-br0 ...`).
pub fn parse_test_addresses(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let dev = words.nth(1)?;
            let addr = words.skip_while(|w| *w != "inet").nth(1)?;
            addr.starts_with("10.213.0.")
                .then(|| (dev.to_string(), addr.to_string()))
        })
        .collect()
}

/// Removes every `osj-*` namespace (killing its processes), test-subnet address on the bridge
/// (the proxy's source addresses) and `osj-*` link a crashed run left behind. Only call while
/// holding the [`RunLock`](crate::preflight::RunLock). Returns what it removed.
pub fn stale_cleanup(tools: &Tools) -> Vec<String> {
    let mut removed = Vec::new();
    if let Ok(out) = run_blocking(tools, &Cmd::ip("-o -4 addr show")) {
        for (dev, addr) in parse_test_addresses(&out) {
            // The bridge's own address goes with the bridge below; only the extra ones here.
            if dev == BRIDGE
                && addr != format!("{BRIDGE_ADDR}/{PREFIX_LEN}")
                && run_blocking(tools, &Cmd::ip(&format!("addr del {addr} dev {dev}"))).is_ok()
            {
                removed.push(format!("address {addr} on {dev}"));
            }
        }
    }
    if let Ok(out) = run_blocking(tools, &Cmd::ip("netns list")) {
        for ns in parse_netns_list(&out) {
            kill_namespace_processes(tools, &ns);
            if run_blocking(tools, &Cmd::ip(&format!("netns del {ns}"))).is_ok() {
                removed.push(format!("netns {ns}"));
            }
        }
    }
    if let Ok(out) = run_blocking(tools, &Cmd::ip("-o link show")) {
        for link in parse_link_list(&out) {
            if run_blocking(tools, &Cmd::ip(&format!("link del {link}"))).is_ok() {
                removed.push(format!("link {link}"));
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_share_the_prefix_and_fit_interface_limits() {
        for id in 1..=MAX_NODES {
            assert!(namespace(id).starts_with(PREFIX));
            assert!(host_veth(id).starts_with(PREFIX));
            assert!(host_veth(id).len() <= 15, "IFNAMSIZ");
        }
        assert!(BRIDGE.starts_with(PREFIX));
        assert_eq!(node_ip(3), "10.213.0.3");
    }

    #[test]
    fn setup_builds_bridge_then_each_node() {
        let cmds: Vec<String> = setup_commands(&[1, 2])
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(cmds[0], "ip link add osj-br0 type bridge");
        assert_eq!(cmds[1], "ip addr add 10.213.0.254/24 dev osj-br0");
        assert!(cmds.contains(&"ip netns add osj-n2".to_string()));
        assert!(cmds.contains(&"ip link add osj-v2 type veth peer name eth0 netns osj-n2".into()));
        assert!(
            cmds.contains(&"ip netns exec osj-n1 ip addr add 10.213.0.1/24 dev eth0".to_string())
        );
        assert!(cmds.contains(&"ip netns exec osj-n1 ip link set lo up".to_string()));
        assert!(cmds.contains(
            &"ip netns exec osj-n2 iptables -w -A INPUT -i eth0 -j OSJ-LOSS".to_string()
        ));
        assert!(
            cmds.contains(
                &"ip netns exec osj-n1 iptables -w -t mangle -A POSTROUTING -o eth0 -j OSJ-DUP"
                    .to_string()
            )
        );
        // Every command touches only harness-named objects or runs inside a harness namespace.
        for c in &cmds {
            assert!(c.contains("osj-"), "{c}");
        }
    }

    #[test]
    fn teardown_removes_every_namespace_veth_and_the_bridge_last() {
        let cmds: Vec<String> = teardown_commands(&[1, 2, 3])
            .iter()
            .map(|c| c.to_string())
            .collect();
        for id in 1..=3 {
            assert!(cmds.contains(&format!("ip netns del osj-n{id}")));
            assert!(cmds.contains(&format!("ip link del osj-v{id}")));
        }
        assert_eq!(cmds.last().unwrap(), "ip link del osj-br0");
        assert!(cmds.contains(&"ip addr del 10.213.0.102/32 dev osj-br0".to_string()));
        // Teardown never touches the root namespace's iptables.
        assert!(cmds.iter().all(|c| !c.contains("iptables")));
    }

    #[test]
    fn parses_stale_names_and_ignores_others() {
        let netns = "osj-n1 (id: 3)\nother\nosj-n2\n";
        assert_eq!(parse_netns_list(netns), ["osj-n1", "osj-n2"]);
        let links = "1: lo: <LOOPBACK,UP> mtu 65536\n4: eth0: <UP> mtu 1400\n\
                     9: osj-v2@if8: <BROADCAST> mtu 1500\n10: osj-br0: <UP> mtu 1500\n";
        assert_eq!(parse_link_list(links), ["osj-v2", "osj-br0"]);
        let addrs = "1: lo    inet 127.0.0.1/8 scope host lo\n\
                     7: osj-br0    inet 10.213.0.254/24 scope global osj-br0\\       valid_lft forever\n\
                     7: osj-br0    inet 10.213.0.101/32 scope global osj-br0\n";
        assert_eq!(
            parse_test_addresses(addrs),
            [
                ("osj-br0".to_string(), "10.213.0.254/24".to_string()),
                ("osj-br0".to_string(), "10.213.0.101/32".to_string())
            ]
        );
    }

    #[test]
    fn proxy_commands_alias_the_senders_and_redirect_each_peer() {
        assert_eq!(proxy_source_ip(3), "10.213.0.103");
        assert_eq!(source_ips(2), ["10.213.0.2", "10.213.0.102"]);
        let aliases: Vec<String> = proxy_alias_commands(&[1, 9])
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            aliases,
            [
                "ip addr add 10.213.0.101/32 dev osj-br0",
                "ip addr add 10.213.0.109/32 dev osj-br0"
            ]
        );
        let redirect: Vec<String> = proxy_redirect_commands(1, &[(2, 7001, 40001)])
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            redirect,
            [
                "ip netns exec osj-n1 iptables -w -t nat -N OSJ-PROXY",
                "ip netns exec osj-n1 iptables -w -t nat -A OUTPUT -j OSJ-PROXY",
                "ip netns exec osj-n1 iptables -w -t nat -A OSJ-PROXY -p tcp -d 10.213.0.2 \
                 --dport 7001 -j DNAT --to-destination 10.213.0.254:40001",
            ]
        );
    }
}
