//! ACL matching with the wazo-auth semantics.
//!
//! A token carries ACL patterns; a service asks whether a token grants a
//! *scope* (a literal string). The grammar of a pattern:
//!
//! * `*` matches exactly one dot-separated segment, possibly empty (no `.` and
//!   no `#` inside it);
//! * `#` matches any run of characters, dots included, possibly empty;
//! * a whole segment `me` also matches the token's `auth_id`, `my_session` the
//!   token's session id, and `edit` also matches `update`;
//! * a leading `!` makes the pattern negative: any matching negative pattern
//!   denies, whatever the positive ones say;
//! * matching is anchored at both ends, and the scope is literal (a `*` or `#`
//!   in the scope is an ordinary character).
//!
//! Patterns are compiled once, when a token is created or loaded, into a small
//! list of elements; a check is a linear scan over the scope per element, with
//! no allocation for the common literal-prefix rejection.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Element {
    /// A literal run of bytes.
    Literal(Box<[u8]>),
    /// A whole segment that may be spelled in several ways (`me` or the auth id).
    OneOf(Box<[Box<[u8]>]>),
    /// `*`: any run of bytes without `.` or `#`.
    Star,
    /// `#`: any run of bytes.
    Hash,
}

/// A single compiled ACL pattern (without its `!`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclPattern {
    elements: Box<[Element]>,
    /// Literal bytes every matching scope starts with: a cheap first rejection.
    prefix: Box<[u8]>,
}

/// What a pattern's special segments stand for.
#[derive(Debug, Clone, Copy)]
pub struct AclContext<'a> {
    /// Substituted for a `me` segment (alongside the literal `me`).
    pub auth_id: &'a str,
    /// Substituted for a `my_session` segment (alongside the literal).
    pub session_id: &'a str,
}

/// Scopes shorter than this are matched with tables on the stack.
const STACK_SCOPE: usize = 256;

/// Upper bound on the length of a scope we try to match: longer scopes are
/// denied outright, which keeps the cost of a check bounded for hostile input.
pub const MAX_SCOPE_LEN: usize = 1024;

impl AclPattern {
    /// Compile `pattern` (without a leading `!`) in the given context.
    pub fn compile(pattern: &str, ctx: AclContext<'_>) -> Self {
        let mut elements: Vec<Element> = Vec::new();
        let mut literal: Vec<u8> = Vec::new();
        let segments: Vec<&str> = pattern.split('.').collect();
        let last = segments.len().saturating_sub(1);
        for (i, segment) in segments.iter().enumerate() {
            let alternatives: Option<Vec<&str>> = match *segment {
                "me" => Some(vec!["me", ctx.auth_id]),
                "my_session" => Some(vec!["my_session", ctx.session_id]),
                "edit" => Some(vec!["edit", "update"]),
                _ => None,
            };
            match alternatives {
                Some(mut alts) => {
                    alts.sort_unstable();
                    alts.dedup();
                    if !literal.is_empty() {
                        elements.push(Element::Literal(std::mem::take(&mut literal).into()));
                    }
                    elements.push(Element::OneOf(
                        alts.iter().map(|a| a.as_bytes().into()).collect(),
                    ));
                }
                None => {
                    for byte in segment.bytes() {
                        match byte {
                            b'*' | b'#' => {
                                if !literal.is_empty() {
                                    elements.push(Element::Literal(
                                        std::mem::take(&mut literal).into(),
                                    ));
                                }
                                elements.push(if byte == b'*' {
                                    Element::Star
                                } else {
                                    Element::Hash
                                });
                            }
                            other => literal.push(other),
                        }
                    }
                }
            }
            if i != last {
                literal.push(b'.');
            }
        }
        if !literal.is_empty() {
            elements.push(Element::Literal(literal.into()));
        }
        let prefix = match elements.first() {
            Some(Element::Literal(l)) => l.clone(),
            _ => Box::default(),
        };
        AclPattern {
            elements: elements.into(),
            prefix,
        }
    }

    /// Whether this pattern matches the whole of `scope`.
    pub fn matches(&self, scope: &str) -> bool {
        let scope = scope.as_bytes();
        if scope.len() > MAX_SCOPE_LEN || !scope.starts_with(&self.prefix) {
            return false;
        }
        // `reachable[p]`: the elements seen so far can match exactly scope[..p].
        // Both tables live on the stack for the usual short scopes: a check
        // of a token with many patterns allocates nothing.
        let n = scope.len();
        let (mut stack_a, mut stack_b) = ([false; STACK_SCOPE], [false; STACK_SCOPE]);
        let (mut heap_a, mut heap_b) = (Vec::new(), Vec::new());
        let (mut reachable, mut next): (&mut [bool], &mut [bool]) = if n < STACK_SCOPE {
            (&mut stack_a[..=n], &mut stack_b[..=n])
        } else {
            heap_a.resize(n + 1, false);
            heap_b.resize(n + 1, false);
            (&mut heap_a, &mut heap_b)
        };
        if let Some(first) = reachable.first_mut() {
            *first = true;
        }
        for element in self.elements.iter() {
            next.iter_mut().for_each(|r| *r = false);
            let mut any = false;
            match element {
                Element::Literal(lit) => {
                    for p in positions(reachable) {
                        if scope.get(p..).is_some_and(|rest| rest.starts_with(lit)) {
                            any |= set(next, p + lit.len());
                        }
                    }
                }
                Element::OneOf(alts) => {
                    for p in positions(reachable) {
                        for alt in alts.iter() {
                            if scope.get(p..).is_some_and(|rest| rest.starts_with(alt)) {
                                any |= set(next, p + alt.len());
                            }
                        }
                    }
                }
                Element::Star => {
                    // Every reachable p extends over the run of non-separators after it.
                    let mut p = 0;
                    while p <= n {
                        if reachable.get(p).copied().unwrap_or(false) {
                            let mut q = p;
                            loop {
                                any |= set(next, q);
                                match scope.get(q) {
                                    Some(b'.') | Some(b'#') | None => break,
                                    Some(_) => q += 1,
                                }
                            }
                            p = q.max(p) + 1;
                        } else {
                            p += 1;
                        }
                    }
                }
                Element::Hash => {
                    if let Some(first) = reachable.iter().position(|r| *r) {
                        for slot in next.iter_mut().skip(first) {
                            *slot = true;
                        }
                        any = true;
                    }
                }
            }
            if !any {
                return false;
            }
            std::mem::swap(&mut reachable, &mut next);
        }
        reachable.get(n).copied().unwrap_or(false)
    }
}

fn positions(reachable: &[bool]) -> impl Iterator<Item = usize> + '_ {
    reachable
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.then_some(i))
}

fn set(slots: &mut [bool], index: usize) -> bool {
    match slots.get_mut(index) {
        Some(slot) => {
            *slot = true;
            true
        }
        None => false,
    }
}

/// Most spellings [`spellings`] enumerates before giving up.
const MAX_SPELLINGS: usize = 64;

/// Every scope that `pattern` matches, when it has no wildcard: its special
/// segments (`me`, `my_session`, `edit`) spelled each way they match. `None`
/// for a pattern with `*` or `#`, a negative one, or one with more than a few
/// dozen spellings. A token exchange asks the subject token about each of
/// them before it hands out such a pattern: asking about the pattern's own
/// text alone would let `x.m#` pass on `x.me`, which also matches `x.<auth id>`.
pub fn spellings(pattern: &str, ctx: AclContext<'_>) -> Option<Vec<String>> {
    if pattern.contains(['*', '#']) || pattern.starts_with('!') {
        return None;
    }
    let mut scopes = vec![String::new()];
    for (i, segment) in pattern.split('.').enumerate() {
        let alternatives: Vec<&str> = match segment {
            "me" => vec!["me", ctx.auth_id],
            "my_session" => vec!["my_session", ctx.session_id],
            "edit" => vec!["edit", "update"],
            other => vec![other],
        };
        if scopes.len().saturating_mul(alternatives.len()) > MAX_SPELLINGS {
            return None;
        }
        scopes = scopes
            .iter()
            .flat_map(|prefix| {
                alternatives.iter().map(move |alt| {
                    if i == 0 {
                        (*alt).to_owned()
                    } else {
                        format!("{prefix}.{alt}")
                    }
                })
            })
            .collect();
    }
    scopes.sort_unstable();
    scopes.dedup();
    Some(scopes)
}

/// A token's ACLs, compiled once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclSet {
    allow: Vec<AclPattern>,
    deny: Vec<AclPattern>,
}

impl AclSet {
    /// Compile a token's ACL list in its context.
    pub fn compile<S: AsRef<str>>(acls: &[S], ctx: AclContext<'_>) -> Self {
        let mut set = AclSet::default();
        for acl in acls {
            let acl = acl.as_ref();
            match acl.strip_prefix('!') {
                Some(negative) => set.deny.push(AclPattern::compile(negative, ctx)),
                None => set.allow.push(AclPattern::compile(acl, ctx)),
            }
        }
        set
    }

    /// Whether the ACLs grant `scope`: some positive pattern matches it and no
    /// negative pattern does.
    pub fn grants(&self, scope: &str) -> bool {
        self.allow.iter().any(|p| p.matches(scope)) && !self.deny.iter().any(|p| p.matches(scope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: AclContext<'static> = AclContext {
        auth_id: "123",
        session_id: "session-uuid",
    };

    /// Every row of the shared conformance file, read as it is, from
    /// `$SESAME_CONFORMANCE_DIR` or `../shared/conformance` beside the
    /// repository. A missing file fails the test: it is never skipped.
    #[test]
    fn conformance_cases() {
        let dir = std::env::var_os("SESAME_CONFORMANCE_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")
            });
        let path = dir.join("acl_cases.tsv");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read the conformance file {} (set SESAME_CONFORMANCE_DIR): {e}",
                path.display()
            )
        });
        let mut cases = 0;
        let mut failures = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let columns: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                columns.len(),
                3,
                "line {}: malformed row {line:?}",
                number + 1
            );
            let acls: Vec<&str> = columns[0].split(',').collect();
            let expected = match columns[2] {
                "allow" => true,
                "deny" => false,
                other => panic!("line {}: unknown expectation {other:?}", number + 1),
            };
            let got = AclSet::compile(&acls, CTX).grants(columns[1]);
            if got != expected {
                failures.push(format!(
                    "line {}: acl {:?} scope {:?}: expected {}, got {}",
                    number + 1,
                    columns[0],
                    columns[1],
                    columns[2],
                    if got { "allow" } else { "deny" }
                ));
            }
            cases += 1;
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(cases, 71, "the conformance file should hold 71 cases");
    }

    #[test]
    fn empty_acl_set_grants_nothing() {
        let set = AclSet::compile::<&str>(&[], CTX);
        assert!(!set.grants(""));
        assert!(!set.grants("foo"));
    }

    #[test]
    fn hash_alone_grants_everything_but_overlong_scopes() {
        let set = AclSet::compile(&["#"], CTX);
        assert!(set.grants(""));
        assert!(set.grants("confd.users.read"));
        assert!(!set.grants(&"a".repeat(MAX_SCOPE_LEN + 1)));
    }

    #[test]
    fn star_inside_a_segment() {
        let set = AclSet::compile(&["foo.b*r"], CTX);
        assert!(set.grants("foo.bar"));
        assert!(set.grants("foo.br"));
        assert!(!set.grants("foo.b.r"));
    }

    #[test]
    fn many_hashes_stay_cheap() {
        // Polynomial blow-up would make this take minutes with naive backtracking.
        let set = AclSet::compile(&["#a#a#a#a#a#a#a#a#a#a#b"], CTX);
        assert!(!set.grants(&"a".repeat(MAX_SCOPE_LEN)));
    }

    #[test]
    fn spellings_cover_every_scope_a_literal_pattern_matches() {
        assert_eq!(
            spellings("confd.users.me.edit", CTX).unwrap(),
            vec![
                "confd.users.123.edit",
                "confd.users.123.update",
                "confd.users.me.edit",
                "confd.users.me.update",
            ]
        );
        assert_eq!(spellings("plain.scope", CTX).unwrap(), vec!["plain.scope"]);
        for wild in ["a.*", "a.#", "!a.b", "a.b*"] {
            assert!(spellings(wild, CTX).is_none(), "{wild}");
        }
        assert!(spellings(&["me"; 7].join("."), CTX).is_none(), "too many");
        for scope in spellings("x.me.my_session.edit", CTX).unwrap() {
            assert!(AclSet::compile(&["x.me.my_session.edit"], CTX).grants(&scope));
        }
    }

    #[test]
    fn me_in_auth_id_is_not_a_wildcard() {
        // An auth id with pattern characters is matched literally.
        let ctx = AclContext {
            auth_id: "#",
            session_id: "s",
        };
        let set = AclSet::compile(&["users.me.read"], ctx);
        assert!(set.grants("users.#.read"));
        assert!(!set.grants("users.anything.read"));
    }
}
