//! Falco-style field maps (`proc.name`, `fd.rip`, `container.label[...]`): Falco's `output_fields` and
//! Sysdig's `content.fields` both use these names, so both adapters read them through here.

use crate::json::{NodeRef, ObjRef, View};
use std::borrow::Cow;
use vigil_model::text::{clean, clean_into, clean_opt, trim};
use vigil_model::{Network, NetworkDirection, Process};

/// ECS agent Docker labels on every task container.
pub const LABEL_TASK_ARN: &str = "com.amazonaws.ecs.task-arn";
/// The cluster (ARN) label.
pub const LABEL_CLUSTER: &str = "com.amazonaws.ecs.cluster";
/// The container's name in the task definition.
pub const LABEL_CONTAINER_NAME: &str = "com.amazonaws.ecs.container-name";
/// The task definition's family.
pub const LABEL_FAMILY: &str = "com.amazonaws.ecs.task-definition-family";
/// The task definition's revision.
pub const LABEL_REVISION: &str = "com.amazonaws.ecs.task-definition-version";

/// A field map: an object of the parsed event, or none.
pub struct FieldMap<'a>(pub Option<ObjRef<'a>>);

/// The ECS agent's labels on a container, each as [`FieldMap::label`] reads it.
#[derive(Default)]
pub struct EcsLabels<'a> {
    /// [`LABEL_TASK_ARN`].
    pub task_arn: Option<Cow<'a, str>>,
    /// [`LABEL_CLUSTER`].
    pub cluster: Option<Cow<'a, str>>,
    /// [`LABEL_CONTAINER_NAME`].
    pub container_name: Option<Cow<'a, str>>,
    /// [`LABEL_FAMILY`].
    pub family: Option<Cow<'a, str>>,
    /// [`LABEL_REVISION`].
    pub revision: Option<Cow<'a, str>>,
}

/// A label key's name and form: `container.label[NAME]` (0), `container.label.NAME` (1) or
/// `container.label_NAME` (2); `None` for any other key.
fn label_key(k: &str) -> Option<(&str, usize)> {
    let rest = k.strip_prefix("container.label")?;
    // The form's first byte is ASCII: `rest[1..]` starts on a character boundary.
    match rest.as_bytes().first()? {
        b'[' => Some((rest[1..].strip_suffix(']')?, 0)),
        b'.' => Some((&rest[1..], 1)),
        b'_' => Some((&rest[1..], 2)),
        _ => None,
    }
}

/// Whether a source's text says "unknown": empty, or Falco's `<NA>` / `N/A` placeholders.
pub fn is_unknown(s: &str) -> bool {
    let s = trim(s);
    s.is_empty() || s == "<NA>" || s == "N/A"
}

/// A top-level text value, cleaned, with the unknown placeholders ([`is_unknown`]) absent.
pub fn known(s: Option<&str>, max_chars: usize) -> Option<String> {
    clean_opt(s.filter(|s| !is_unknown(s)), max_chars).filter(|s| !is_unknown(s))
}

/// [`clean_opt`] of a field's text, reusing the string when the text was built (a number printed,
/// an image joined with its tag) instead of copying it.
pub fn clean_field(s: Option<Cow<'_, str>>, max_chars: usize) -> Option<String> {
    match s? {
        Cow::Borrowed(b) => clean_opt(Some(b), max_chars),
        Cow::Owned(o) => Some(clean_into(o, max_chars, false)).filter(|c| !c.is_empty()),
    }
}

/// A producer's own id for an event (falcosidekick `uuid`, Sysdig `id`), exactly as sent, or none:
/// an id that would have to be cut or cleaned could collide with another event's, and then a
/// genuine occurrence would be taken for a redelivery.
pub fn producer_id(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty() && s.len() <= MAX_PRODUCER_ID && !is_unknown(s))
        .filter(|s| s.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
}

/// Longest producer id kept (a UUID is 36 characters).
pub const MAX_PRODUCER_ID: usize = 128;

/// The last path segment of an executable path or command word (`/bin/sh` → `sh`).
fn base_name(path: &str) -> Option<&str> {
    let name = path.trim().rsplit('/').next()?.trim();
    (!name.is_empty() && !is_unknown(name)).then_some(name)
}

/// The field as text; null, empty and Falco's `<NA>` placeholder are absent.
fn field_text(v: NodeRef<'_>) -> Option<Cow<'_, str>> {
    match v.view() {
        View::Str(s) => (!is_unknown(s)).then_some(Cow::Borrowed(trim(s))),
        View::Number(n) => Some(Cow::Owned(n.to_string())),
        View::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

impl<'a> FieldMap<'a> {
    /// The field as text; null, empty and Falco's `<NA>` placeholder are absent.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        field_text(self.0?.get(name)?)
    }

    /// The first of `names` present, as [`FieldMap::get`] reads it.
    pub fn get_any(&self, names: &[&str]) -> Option<Cow<'a, str>> {
        names.iter().find_map(|n| self.get(n))
    }

    /// The field as an integer; `None` when absent or not an integer.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.0?.get(name)?.view() {
            // What parsing the number's text would give, without printing it: only an integer
            // within i64 prints as one (a float prints with a `.` or an exponent).
            View::Number(n) => n.as_i64(),
            _ => self.get(name)?.parse().ok(),
        }
    }

    /// A counter: a non-negative integer, exactly (Falco's counters are 64-bit unsigned).
    pub fn count(&self, names: &[&str]) -> Option<u64> {
        names.iter().find_map(|n| self.get(n)?.parse().ok())
    }

    /// Whether any field's name starts with one of `prefixes` (`ka.`, `ct.`).
    pub fn has_prefix(&self, prefixes: &[&str]) -> bool {
        self.0.is_some_and(|m| {
            m.iter()
                .any(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
        })
    }

    /// The first item of a list field, whether given as a JSON array or as Falco's text form of a
    /// list (`[10.0.0.1,10.0.0.2]`, `["10.0.0.1"]`).
    pub fn first_of(&self, name: &str) -> Option<Cow<'a, str>> {
        let v = self.0?.get(name)?;
        if let View::Array(items) = v.view() {
            return items.iter().find_map(field_text);
        }
        let text = field_text(v)?;
        if !text.starts_with('[') {
            return Some(text);
        }
        text.trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|s| s.trim().trim_matches('"').trim())
            .find(|s| !is_unknown(s))
            .map(|s| Cow::Owned(s.to_owned()))
    }

    /// A container label in any of the key forms Falco and falcosidekick produce:
    /// `container.label[KEY]`, `container.label.KEY`, or with brackets replaced (`container.label_KEY`).
    /// The forms are tried in that order, each at its key's last occurrence (as [`FieldMap::get`]
    /// reads a key), all found in one pass over the fields.
    pub fn label(&self, key: &str) -> Option<Cow<'a, str>> {
        let mut forms: [Option<NodeRef<'a>>; 3] = [None; 3];
        for (k, v) in self.0?.iter() {
            if let Some((name, form)) = label_key(k)
                && name == key
            {
                forms[form] = Some(v);
            }
        }
        forms.into_iter().flatten().find_map(field_text)
    }

    /// [`FieldMap::label`] of each of the ECS agent's labels, found in one pass over the fields
    /// (a Falco alert reads all five).
    pub fn ecs_labels(&self) -> EcsLabels<'a> {
        const KEYS: [&str; 5] = [
            LABEL_TASK_ARN,
            LABEL_CLUSTER,
            LABEL_CONTAINER_NAME,
            LABEL_FAMILY,
            LABEL_REVISION,
        ];
        let Some(map) = self.0 else {
            return EcsLabels::default();
        };
        // Each label's value in each key form, at the key's last occurrence.
        let mut found: [[Option<NodeRef<'a>>; 3]; 5] = [[None; 3]; 5];
        for (k, v) in map.iter() {
            if let Some((name, form)) = label_key(k)
                && let Some(label) = KEYS.iter().position(|key| *key == name)
            {
                found[label][form] = Some(v);
            }
        }
        let [task_arn, cluster, container_name, family, revision] =
            found.map(|forms| forms.into_iter().flatten().find_map(field_text));
        EcsLabels {
            task_arn,
            cluster,
            container_name,
            family,
            revision,
        }
    }

    /// The image from `container.image.repository` and `container.image.tag`, as Falco and Sysdig
    /// give them apart.
    pub fn image_from_parts(&self) -> Option<Cow<'a, str>> {
        Some(with_tag(
            self.get("container.image.repository")?,
            self.get("container.image.tag"),
        ))
    }

    /// The process of Falco's `proc.*` and `user.*` fields; `None` when none is present.
    pub fn process(&self) -> Option<Process> {
        let executable_path = self.get_any(&["proc.exepath", "proc.exe"]);
        let command_line = self.get("proc.cmdline");
        // Falco's `proc.name` is the executable's name: when a rule's output left it out, it is
        // the last segment of the executable path, else of the command line's first word.
        let name = self.get("proc.name").or_else(|| {
            executable_path
                .as_deref()
                .and_then(base_name)
                .or_else(|| {
                    command_line
                        .as_deref()
                        .and_then(|c| c.split_whitespace().next())
                        .and_then(base_name)
                })
                .map(|n| Cow::Owned(n.to_owned()))
        });
        let p = Process {
            name: clean_opt(name.as_deref(), 256),
            executable_path: clean_opt(executable_path.as_deref(), 1024),
            command_line: clean_opt(command_line.as_deref(), 2048),
            pid: self.int("proc.pid"),
            parent_name: clean_opt(self.get("proc.pname").as_deref(), 256),
            parent_pid: self.int("proc.ppid"),
            user: clean_opt(self.get("user.name").as_deref(), 256),
            uid: self.int("user.uid"),
            executable_sha256: None,
        };
        (p != Process::default()).then_some(p)
    }

    /// The connection of Falco's `fd.*` fields (`fd.name` `local->remote`, `fd.lip`/`fd.rip`, `fd.cip`/`fd.sip`, ports,
    /// `fd.l4proto`), its direction from `event_type` (`evt.type`); `None` when none is present.
    pub fn network(&self, event_type: Option<&str>) -> Option<Network> {
        // Every field read below is an `fd.` one: without any (most alerts are not about a
        // socket), there is no connection, and one pass over the names says so.
        if !self.has_prefix(&["fd."]) {
            return None;
        }
        let connection =
            clean_opt(self.get("fd.name").as_deref(), 512).filter(|c| c.contains("->"));
        let direction = match event_type {
            Some("connect" | "sendto" | "sendmsg") => Some(NetworkDirection::Outbound),
            Some("accept" | "accept4" | "listen" | "recvfrom") => Some(NetworkDirection::Inbound),
            _ => None,
        };
        // Whether the process is the server end: `fd.is_server` when Falco gives it, else from
        // the calls only a server makes (a client's recvfrom on its own connection is not one).
        let is_server = match self.get("fd.is_server").as_deref() {
            Some("true") => true,
            Some("false") => false,
            _ => matches!(event_type, Some("accept" | "accept4" | "listen")),
        };
        // A socket's `fd.name` is `CLIENT:PORT->SERVER:PORT` whichever side the process is on
        // (libsinsp swaps the tuple for server sockets); `fd.cip`/`fd.sip` name the same ends.
        // `fd.lip`/`fd.rip` say local and remote outright and win.
        let (mut client_ip, mut client_port, mut server_ip, mut server_port) = (
            self.get("fd.cip"),
            self.int("fd.cport").and_then(port),
            self.get("fd.sip"),
            self.int("fd.sport").and_then(port),
        );
        if let Some((c, s)) = connection.as_deref().and_then(|c| c.split_once("->")) {
            let (cip, cport) = split_host_port(c);
            let (sip, sport) = split_host_port(s);
            client_ip = client_ip.or(cip.map(Cow::Owned));
            client_port = client_port.or(cport);
            server_ip = server_ip.or(sip.map(Cow::Owned));
            server_port = server_port.or(sport);
        }
        let ((own_ip, own_port), (peer_ip, peer_port)) = if is_server {
            ((server_ip, server_port), (client_ip, client_port))
        } else {
            ((client_ip, client_port), (server_ip, server_port))
        };
        let local_ip = self.get("fd.lip").or(own_ip);
        let local_port = self.int("fd.lport").and_then(port).or(own_port);
        let remote_ip = self.get("fd.rip").or(peer_ip);
        let remote_port = self.int("fd.rport").and_then(port).or(peer_port);
        let n = Network {
            direction,
            protocol: clean_opt(self.get("fd.l4proto").as_deref(), 16),
            local_ip: local_ip.and_then(|ip| clean_opt(Some(&ip), 64)),
            local_port,
            remote_ip: remote_ip.and_then(|ip| clean_opt(Some(&ip), 64)),
            remote_port,
            connection,
            // The name Falco resolved for the remote end, when its rules asked for one.
            domain: clean_opt(
                self.get("fd.rip.name")
                    .or_else(|| {
                        self.get(if is_server {
                            "fd.cip.name"
                        } else {
                            "fd.sip.name"
                        })
                    })
                    .as_deref(),
                253,
            ),
        };
        (n.remote_ip.is_some()
            || n.connection.is_some()
            || n.protocol.is_some()
            || n.domain.is_some())
        .then_some(n)
    }
}

/// `repo:tag`, unless the repository already names a tag or a digest.
pub fn with_tag<'s>(repo: Cow<'s, str>, tag: Option<Cow<'s, str>>) -> Cow<'s, str> {
    match tag {
        Some(tag) if !repo.contains('@') && !has_tag(&repo) => {
            Cow::Owned(concat(&[&repo, ":", &tag]))
        }
        _ => repo,
    }
}

/// `parts` joined, in a string sized once (`format!` guesses the size and grows as it writes).
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// Whether an image reference already names a tag (`repo:tag`, not a registry port `host:5000/repo`).
fn has_tag(reference: &str) -> bool {
    let name = reference.rsplit('/').next().unwrap_or(reference);
    name.contains(':')
}

fn port(p: i64) -> Option<u16> {
    u16::try_from(p).ok()
}

/// `10.0.0.1:443` or `[2001:db8::1]:443` → (ip, port).
fn split_host_port(s: &str) -> (Option<String>, Option<u16>) {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[')
        && let Some((host, port)) = rest.split_once("]:")
    {
        return (Some(host.to_owned()), port.parse().ok());
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (Some(host.to_owned()), port.parse().ok()),
        _ => ((!s.is_empty()).then(|| s.to_owned()), None),
    }
}

/// Most tags a finding keeps: rules carry a handful, and an event of nothing but tags must not make a
/// finding too large for the bus.
pub const MAX_TAGS: usize = 64;

/// A source's tags cleaned (single line, ≤ 128 characters), empty ones dropped, at most [`MAX_TAGS`].
/// Tags in Vigil's own `vigil:` namespace (such as the sample marker) are Vigil's to set.
pub fn clean_tags<S: AsRef<str>>(tags: &[S]) -> Vec<String> {
    tags.iter()
        .map(|t| clean(t.as_ref(), 128, false))
        .filter(|t| {
            !t.is_empty()
                && !t
                    .as_bytes()
                    .get(..6)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"vigil:"))
        })
        .take(MAX_TAGS)
        .collect()
}

/// MITRE ATT&CK entries among a source's tags: Falco's `mitre_execution` → `execution` and
/// `T1059` / `T1059.004` kept as techniques; Sysdig's `MITRE_TA0002_execution` → `execution` and
/// `MITRE_T1136.001_create_account_local_account` → `T1136.001`.
pub fn mitre_from_tags(tags: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for tag in tags {
        let t = trim(tag);
        if let Some(rest) = t
            .strip_prefix("mitre_")
            .or_else(|| t.strip_prefix("MITRE_"))
        {
            let (head, tail) = rest.split_once('_').unwrap_or((rest, ""));
            if is_tactic_id(head) {
                if !tail.is_empty() {
                    out.push(tactic_name(tail));
                }
            } else if is_technique(head) {
                out.push(head.to_ascii_uppercase());
            } else if !rest.is_empty() {
                out.push(tactic_name(rest));
            }
        } else if is_technique(t) {
            out.push(t.to_ascii_uppercase());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `Privilege-Escalation` / `privilege escalation` → `privilege_escalation`.
fn tactic_name(s: &str) -> String {
    // Sized once: collecting the characters would grow the string as it goes.
    let mut name = String::with_capacity(s.len());
    name.extend(s.chars().map(|c| match c {
        '-' | ' ' => '_',
        c => c.to_ascii_lowercase(),
    }));
    name
}

/// An ATT&CK tactic id: `TA0002`.
fn is_tactic_id(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 6 && b[..2].eq_ignore_ascii_case(b"TA") && b[2..].iter().all(u8::is_ascii_digit)
}

fn is_technique(t: &str) -> bool {
    let b = t.as_bytes();
    let main =
        b.len() >= 5 && (b[0] == b'T' || b[0] == b't') && b[1..5].iter().all(u8::is_ascii_digit);
    main && (b.len() == 5
        || (b.len() == 9 && b[5] == b'.' && b[6..9].iter().all(u8::is_ascii_digit)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{Node, parse_node};
    use serde_json::json;

    /// `v` as the tree the adapters read.
    fn owned(v: &serde_json::Value) -> Node<'static> {
        use serde_json::Value;
        match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n.clone()),
            Value::String(s) => Node::String(s.clone().into()),
            Value::Array(a) => Node::Array(a.iter().map(owned).collect()),
            Value::Object(m) => Node::Object(
                m.iter()
                    .map(|(k, v)| (k.clone().into(), owned(v)))
                    .collect(),
            ),
        }
    }

    fn map_of<'a>(node: &'a Node<'a>) -> FieldMap<'a> {
        match NodeRef(node).view() {
            View::Object(o) => FieldMap(Some(o)),
            _ => FieldMap(None),
        }
    }

    #[test]
    fn labels_in_every_key_form() {
        for key in [
            "container.label[com.amazonaws.ecs.task-arn]",
            "container.label.com.amazonaws.ecs.task-arn",
            "container.label_com.amazonaws.ecs.task-arn",
        ] {
            let text = json!({ key: "arn:aws:ecs:r:1:task/c/t" }).to_string();
            let node = parse_node(text.as_bytes()).unwrap();
            let f = map_of(&node);
            assert_eq!(
                f.label(LABEL_TASK_ARN).as_deref(),
                Some("arn:aws:ecs:r:1:task/c/t"),
                "{key}"
            );
        }
    }

    #[test]
    fn ecs_labels_read_as_label_reads_each() {
        let text = json!({
            "container.label[com.amazonaws.ecs.cluster]": "<NA>",
            "container.label.com.amazonaws.ecs.cluster": "c1",
            "container.label_com.amazonaws.ecs.cluster": "c2",
            "container.label.com.amazonaws.ecs.task-arn": "t1",
            "container.label[com.amazonaws.ecs.container-name]": "n1",
            "container.label_com.amazonaws.ecs.container-name": "n2",
            "container.label_com.amazonaws.ecs.task-definition-family": 7,
            "container.label[com.amazonaws.ecs.task-definition-version]]": "v",
            "container.labelXcom.amazonaws.ecs.task-arn": "x",
        })
        .to_string();
        let node = parse_node(text.as_bytes()).unwrap();
        let f = map_of(&node);
        let labels = f.ecs_labels();
        for (got, key) in [
            (labels.task_arn, LABEL_TASK_ARN),
            (labels.cluster, LABEL_CLUSTER),
            (labels.container_name, LABEL_CONTAINER_NAME),
            (labels.family, LABEL_FAMILY),
            (labels.revision, LABEL_REVISION),
        ] {
            assert_eq!(got, f.label(key), "{key}");
        }
        assert_eq!(f.label(LABEL_CLUSTER).as_deref(), Some("c1"));
        assert_eq!(f.label(LABEL_FAMILY).as_deref(), Some("7"));
        assert_eq!(f.label(LABEL_REVISION), None);
        assert_eq!(
            f.label("com.amazonaws.ecs.task-definition-version]")
                .as_deref(),
            Some("v")
        );
    }

    #[test]
    fn clean_field_is_clean_opt() {
        for s in ["", " ", " a ", "repo:tag", "\u{1b}[1mx", "<NA>", "é  "] {
            for cap in [0, 1, 3, 64] {
                let expected = clean_opt(Some(s), cap);
                assert_eq!(clean_field(Some(Cow::Borrowed(s)), cap), expected, "{s:?}");
                assert_eq!(
                    clean_field(Some(Cow::Owned(s.to_owned())), cap),
                    expected,
                    "{s:?}"
                );
            }
        }
        assert_eq!(clean_field(None, 8), None);
    }

    #[test]
    fn na_and_null_are_absent() {
        let text = json!({"a": "<NA>", "b": null, "c": 5, "d": ""}).to_string();
        let node = parse_node(text.as_bytes()).unwrap();
        let f = map_of(&node);
        assert_eq!(f.get("a"), None);
        assert_eq!(f.get("b"), None);
        assert_eq!(f.get("c").as_deref(), Some("5"));
        assert_eq!(f.get("d"), None);
    }

    #[test]
    fn network_from_fd_name() {
        let v = json!({"fd.name": "10.0.0.139:5432->203.0.113.9:443", "fd.l4proto": "tcp"});
        let n = map_of(&owned(&v)).network(Some("connect")).unwrap();
        assert_eq!(n.remote_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(n.remote_port, Some(443));
        assert_eq!(n.local_port, Some(5432));
        assert_eq!(n.direction, Some(NetworkDirection::Outbound));
        let v = json!({"fd.name": "/etc/shadow"});
        assert!(map_of(&owned(&v)).network(None).is_none());
    }

    /// An accepted connection: `fd.name` still puts the client (the attacker) first, and the
    /// process is the server, so the client is the remote end.
    #[test]
    fn an_accepted_connection_has_the_client_as_remote() {
        let v = json!({"fd.name": "203.0.113.9:51234->10.0.0.5:22", "fd.l4proto": "tcp"});
        let n = map_of(&owned(&v)).network(Some("accept")).unwrap();
        assert_eq!(n.direction, Some(NetworkDirection::Inbound));
        assert_eq!(n.remote_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(n.remote_port, Some(51234));
        assert_eq!(n.local_ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(n.local_port, Some(22));
        // A client reading its own connection is still the client.
        let n = map_of(&owned(&v)).network(Some("recvfrom")).unwrap();
        assert_eq!(n.remote_ip.as_deref(), Some("10.0.0.5"));
        // fd.is_server, and the client/server fields, say it outright.
        let v = json!({"fd.cip": "203.0.113.9", "fd.cport": 40000, "fd.sip": "10.0.0.5",
            "fd.sport": 8080, "fd.is_server": true});
        let n = map_of(&owned(&v)).network(Some("read")).unwrap();
        assert_eq!(n.remote_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(n.local_port, Some(8080));
        // fd.rip, when given, wins over everything.
        let v = json!({"fd.name": "203.0.113.9:51234->10.0.0.5:22", "fd.rip": "198.51.100.7"});
        let n = map_of(&owned(&v)).network(Some("accept")).unwrap();
        assert_eq!(n.remote_ip.as_deref(), Some("198.51.100.7"));
    }

    #[test]
    fn mitre_tags() {
        let tags: Vec<String> = ["container", "mitre_execution", "T1059", "t1611.001", "T12"]
            .map(String::from)
            .into();
        assert_eq!(
            mitre_from_tags(&tags),
            vec!["T1059", "T1611.001", "execution"]
        );
    }

    #[test]
    fn sysdig_mitre_tags_give_tactics_and_techniques() {
        let tags: Vec<String> = [
            "MITRE",
            "MITRE_TA0003_persistence",
            "MITRE_TA0004_privilege_escalation",
            "MITRE_T1136_create_account",
            "MITRE_T1136.001_create_account_local_account",
            "MITRE_TA0011",
            "mitre_Defense-Evasion",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            mitre_from_tags(&tags),
            vec![
                "T1136",
                "T1136.001",
                "defense_evasion",
                "persistence",
                "privilege_escalation"
            ]
        );
    }
}
